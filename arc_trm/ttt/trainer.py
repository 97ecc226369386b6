"""Test-time training on one task: augmented demonstrations, deep supervision, then a voted rollout.

    data = task_encoding.task_data(task, augs, canvas)   # every augmented version, encoded on the canvas
    model = new_model(config.model, len(augs), device)   # or from_pretrained(base, len(augs), device)
    trainer = Trainer(model, config.ttt)
    while ...: trainer.step(data.sample(batch))          # one supervision step (ACT) per optimiser step
    candidates = predict.rollout(model, data)            # every version of every test input, N_sup steps

The task's encoding (versions as puzzles with their own embedding rows, the canvas rule, joint batches of
several tasks) is `arc_trm.data.task_encoding`; this module is the model and its training.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch

from arc_trm.model import TRM, Carry, TRMConfig
from arc_trm.model.losses import ACTLoss, act_loss
from arc_trm.ttt.optim import EMA, AdamATan2, OptimConfig, PuzzleEmbeddingSignSGD, lr_at, sum_over_ranks, world_size


@dataclass
class TTTConfig(OptimConfig):
    """How one task is trained at test time: the optimisers (OptimConfig's fields, with the test-time defaults
    below) plus the task's versions, steps and batches (defaults: the CPU default of configs/cpu.yaml)."""

    versions: int = 64  # K: augmented versions of the task, identity included (an Aug makes each)
    permute_background: bool = True  # let colour 0 take part in the colour permutations (official: False)
    dihedral: bool = True  # rotate/reflect versions (off: colour permutations and offsets only)
    translate: int = 0  # largest random offset of demonstration grids on the canvas (0: none)
    max_steps: int = 5000  # optimiser steps at most (time usually stops it first)
    batch_size: int = 16  # demonstrations per step (at most, with batch_tokens)
    batch_tokens: int = 784  # > 0: fewer demonstrations per step on bigger canvases, about this many cells in all
    # OptimConfig's defaults for test-time training (the CPU default's)
    lr: float = 2e-3
    weight_decay: float = 0.1  # fine-tuning the shipped prior (configs/cpu.yaml)
    warmup_steps: int = 20
    ema: float = 0.99


def new_model(config: TRMConfig, num_versions: int, device: torch.device, seed: int = 0) -> TRM:
    """A freshly initialised TRM with a puzzle-embedding row per version (+ the blank row 0)."""
    torch.manual_seed(seed)
    return TRM(dataclasses.replace(config, num_puzzle_ids=num_versions + 1)).to(device)


def from_pretrained(base: TRM, num_versions: int, device: torch.device) -> TRM:
    """A copy of a pretrained model whose puzzle-embedding table has one row per version of the new task (+
    the blank row 0), each initialised to the mean of the base model's trained (non-zero) rows."""
    table = base.puzzle_table.weight
    trained = table[table.abs().sum(-1) > 0]
    mean = trained.mean(0) if len(trained) else torch.zeros_like(table[0])
    model = copy.deepcopy(base)
    model.config = dataclasses.replace(base.config, num_puzzle_ids=num_versions + 1)
    model.puzzle_table.weight = mean.expand(num_versions + 1, -1).clone()
    return model.to(device)


def batch_size(config: TTTConfig, canvas: int) -> int:
    """Demonstrations per step on a canvas: `batch_size`, or fewer on big canvases when `batch_tokens` is set
    (more, cheaper steps: per-task training on a CPU is starved of steps, not of samples per step)."""
    if config.batch_tokens <= 0:
        return config.batch_size
    return max(2, min(config.batch_size, config.batch_tokens // (canvas * canvas)))


class Trainer:
    """Deep-supervision training as the official loop: a persistent ACT batch, one supervision step per
    optimiser step; AdamATan2 on the weights, sign SGD on the puzzle-embedding rows, warmup, optional EMA.

    Shared by test-time training (`solve`, a TTTConfig) and pretraining (`arc_trm.train.pretrain`, its OptimConfig).
    `total_steps` is where the cosine schedule ends (it matters only when `lr_min_ratio` < 1). Under
    torch.distributed each rank steps on its slice of the global batch: the loss is divided by the global batch
    and the weight gradients are summed over ranks (as the official loop; the puzzle-embedding rows are
    gathered by their optimiser), so every rank applies the same update.
    `state_dict()` holds everything but the model for an exact resume, the persistent batch (`carry`) included.
    """

    def __init__(self, model: TRM, config: OptimConfig, total_steps: int = 0):
        self.model, self.config = model, config
        self.total_steps = total_steps
        self.last: tuple[ACTLoss, dict[str, torch.Tensor]] | None = None  # last step's loss and outputs
        params = [] if config.train == "embeddings" else list(model.parameters())
        for p in model.parameters():
            p.requires_grad_(config.train != "embeddings")
        self.weights = (
            AdamATan2(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay) if params else None
        )
        self.embeddings = PuzzleEmbeddingSignSGD(
            model.puzzle_table.weight, lr=config.puzzle_emb_lr, weight_decay=config.puzzle_emb_weight_decay
        )
        self.ema = EMA(model, mu=config.ema) if config.ema > 0 and params else None
        self.carry: Carry | None = None  # the persistent batch
        self.steps = 0

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One supervision step on the persistent batch; returns loss and accuracy of this step."""
        device = next(self.model.buffers()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        self.model.train()
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        self.carry, outputs = self.model(self.carry, batch)
        loss = act_loss(outputs, self.carry.data["labels"], self.config.loss)
        self.last = loss, outputs
        (loss.loss / (len(batch["inputs"]) * world_size())).backward()
        sum_over_ranks([p.grad for p in self.model.parameters() if p.grad is not None])
        self.steps += 1
        self._update()
        return {
            "loss": loss.loss.item() / len(batch["inputs"]),
            "accuracy": float(loss.token_accuracy.mean()),
            "exact": float(loss.seq_correct.float().mean()),
        }

    def state_dict(self) -> dict:
        """Step count, both optimisers, the EMA and the persistent batch (the model's own state is separate)."""
        carry = (
            None
            if self.carry is None
            else {
                "y": self.carry.y,
                "z": self.carry.z,
                "steps": self.carry.steps,
                "halted": self.carry.halted,
                "data": dict(self.carry.data),
            }
        )
        return {
            "steps": self.steps,
            "weights": self.weights.state_dict() if self.weights else None,
            "embeddings": self.embeddings.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "carry": carry,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict()` returned (onto the model's device)."""
        device = next(self.model.buffers()).device
        self.steps = int(state["steps"])
        if self.weights is not None:
            self.weights.load_state_dict(state["weights"])
        self.embeddings.load_state_dict(state["embeddings"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        carry = state.get("carry")
        self.carry = (
            None
            if carry is None
            else Carry(
                carry["y"].to(device),
                carry["z"].to(device),
                carry["steps"].to(device),
                carry["halted"].to(device),
                {k: v.to(device) for k, v in carry["data"].items()},
            )
        )

    def _update(self) -> None:
        c, emb = self.config, self.model.puzzle_table
        if self.weights is not None:
            for group in self.weights.param_groups:
                group["lr"] = lr_at(self.steps, c.lr, c.warmup_steps, self.total_steps, c.lr_min_ratio)
            self.weights.step()
            self.weights.zero_grad(set_to_none=True)
        self.embeddings.lr = lr_at(self.steps, c.puzzle_emb_lr, c.warmup_steps, self.total_steps, c.lr_min_ratio)
        self.embeddings.step(*emb.lookup_grads())
        if self.ema is not None:
            self.ema.update(self.model)
