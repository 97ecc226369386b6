"""Test-time training on one task: augmented demonstrations, deep supervision, then a voted rollout.

    data = task_data(task, augs, canvas)                 # every augmented version, encoded on the canvas
    model = new_model(config.model, len(augs), device)   # or from_pretrained(base, len(augs), device)
    trainer = Trainer(model, config.ttt)
    while ...: trainer.step(data.sample(batch))          # one supervision step (ACT) per optimiser step
    candidates = predict.rollout(model, data)            # every version of every test input, N_sup steps

Each augmented version of the task is its own "puzzle" with its own embedding row (ids 1..K; 0 is the
official blank id), as in the official data build; the test inputs are answered with their version's row.
Several tasks can train jointly in one model (a GPU's batch is wasted on one small task): each task's rows
follow the previous task's (`first_id`), and a step takes a batch from every task (`sample_joint`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from arc_trm.augment import Aug, swaps_sides
from arc_trm.encoding import OFFICIAL_CANVAS, encode
from arc_trm.losses import ACTLoss, act_loss
from arc_trm.model import TRM, Carry, TRMConfig
from arc_trm.optim import EMA, AdamATan2, PuzzleEmbeddingSignSGD, lr_at, sum_over_ranks, world_size
from arc_trm.tasks import Task


@dataclass
class TTTConfig:
    """How one task is trained at test time (defaults: the CPU default of configs/cpu.yaml)."""

    augmentations: int = 64  # K: augmented versions of the task, identity included
    permute_background: bool = True  # let colour 0 take part in the colour permutations (official: False)
    dihedral: bool = True  # rotate/reflect versions (off: colour permutations and offsets only)
    translate: int = 0  # largest random offset of demonstration grids on the canvas (0: none)
    max_steps: int = 5000  # optimiser steps at most (time usually stops it first)
    batch_size: int = 16  # demonstrations per step (at most, with batch_tokens)
    batch_tokens: int = 784  # > 0: fewer demonstrations per step on bigger canvases, about this many cells in all
    lr: float = 2e-3
    puzzle_emb_lr: float = 1e-2
    weight_decay: float = 1.0
    puzzle_emb_weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 20
    ema: float = 0.99  # EMA rate of the weights used for prediction; 0: no EMA
    loss: str = "stablemax"
    train: str = "all"  # "all" weights, or "embeddings" only (fine-tuning a pretrained checkpoint)


@dataclass
class TaskData:
    """A task's augmented versions encoded on its canvas: demonstrations to train on, test inputs to answer."""

    task_id: str
    canvas: int
    augs: list[Aug]
    inputs: np.ndarray  # (N, C*C) uint8, every demonstration of every version
    labels: np.ndarray  # (N, C*C) uint8
    puzzle_ids: np.ndarray  # (N,) int64, version k has id k + 1
    test_inputs: np.ndarray  # (M, C*C) uint8, every readable test input of every version
    test_ids: np.ndarray  # (M,) puzzle ids
    test_index: np.ndarray  # (M,) which test input of the task
    test_aug: np.ndarray  # (M,) which version
    num_tests: int  # test inputs of the task, unreadable ones included
    out_shapes: np.ndarray | None = None  # (N, 2) each demonstration's expected output shape (`output_coords`)
    test_out_shapes: np.ndarray | None = None  # (M, 2) each test row's, from `output_shape_rule`
    rng: np.random.Generator = field(default_factory=np.random.default_rng, repr=False)

    @property
    def test_per_version(self) -> int:
        """Readable test inputs per augmented version."""
        return len(self.test_inputs) // len(self.augs)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """A random batch of demonstrations (without replacement while there are enough)."""
        n = len(self.inputs)
        rows = self.rng.choice(n, size=batch_size, replace=n < batch_size)
        batch = {
            "inputs": torch.from_numpy(self.inputs[rows].astype(np.int64)),
            "labels": torch.from_numpy(self.labels[rows].astype(np.int64)),
            "puzzle_ids": torch.from_numpy(self.puzzle_ids[rows]),
        }
        if self.out_shapes is not None:
            batch["out_shape"] = torch.from_numpy(self.out_shapes[rows])
        return batch


def output_shape_rule(task: Task) -> Callable[[tuple[int, int]], tuple[int, int]] | None:
    """How the demonstrations map an input's shape to their output's: one fixed scale (the same shape included)
    or one fixed output shape, as a function of the input's shape; None when neither fits them all."""
    pairs = [(a.shape, b.shape) for a, b in task.train]
    scales = {(Fraction(b[0], a[0]), Fraction(b[1], a[1])) for a, b in pairs}
    if len(scales) == 1:
        sr, sc = scales.pop()
        return lambda shape: (math.ceil(shape[0] * sr), math.ceil(shape[1] * sc))
    outputs = {b for _, b in pairs}
    if len(outputs) == 1:
        fixed = outputs.pop()
        return lambda shape: fixed
    return None


def predicted_output_side(task: Task) -> int:
    """The largest side a test output is likely to have (by `output_shape_rule`), or the largest grid seen."""
    seen = max(max(g.shape) for g in task.grids)
    rule = output_shape_rule(task)
    tests = [g.shape for g in task.test_inputs if g is not None]
    return max(seen, *(max(rule(shape)) for shape in tests)) if rule and tests else seen


def expected_output_shape(rule: Callable | None, grid: np.ndarray, aug: Aug, canvas: int) -> tuple[int, int]:
    """The output shape that `rule` expects for an input grid, in the version `aug`, at most the canvas; the
    input's own shape when there is no rule (a task whose output shapes follow no rule: no information)."""
    rows, cols = rule(grid.shape) if rule else grid.shape
    if swaps_sides(aug.dihedral):
        rows, cols = cols, rows
    return min(rows, canvas), min(cols, canvas)


def task_canvas(task: Task, translate: int = 0) -> int:
    """The canvas side for a task: room for its grids and its likely test outputs, the end-of-grid marker
    and the translation, at most the official 30."""
    return min(predicted_output_side(task) + 1 + translate, OFFICIAL_CANVAS)


def task_data(task: Task, augs: list[Aug], canvas: int, seed: int = 0, first_id: int = 1) -> TaskData:
    """Encode every version of the task; demonstrations of version k sit at `augs[k].translate`, except one
    per version at the origin (as the official build keeps one untranslated example per version). Version k
    gets puzzle id `first_id + k`."""
    inputs, labels, ids, shapes = [], [], [], []
    rule = output_shape_rule(task)
    for k, aug in enumerate(augs):
        for j, (grid_in, grid_out) in enumerate(task.train):
            offset = (0, 0) if j == k % len(task.train) else _fit(aug.translate, grid_in, grid_out, aug, canvas)
            inputs.append(encode(aug.apply(grid_in), canvas, offset))
            labels.append(encode(aug.apply(grid_out), canvas, offset))
            ids.append(first_id + k)
            shapes.append(expected_output_shape(rule, grid_in, aug, canvas))
    tests = [(k, i, aug, g) for k, aug in enumerate(augs) for i, g in enumerate(task.test_inputs) if g is not None]
    return TaskData(
        task.id, canvas, augs, np.stack(inputs), np.stack(labels), np.array(ids, np.int64),
        np.stack([encode(aug.apply(g), canvas) for _, _, aug, g in tests]),
        np.array([first_id + k for k, *_ in tests], np.int64),
        np.array([i for _, i, _, _ in tests]), np.array([k for k, *_ in tests]), len(task.test_inputs),
        out_shapes=np.array(shapes, np.int64).reshape(-1, 2),
        test_out_shapes=np.array([expected_output_shape(rule, g, aug, canvas) for *_, aug, g in tests],
                                 np.int64).reshape(-1, 2),
        rng=np.random.default_rng(seed),
    )


def sample_joint(parts: list[TaskData], batch_size: int) -> dict[str, torch.Tensor]:
    """One training batch for tasks trained jointly: `batch_size` demonstrations of each task, side by side
    (so every task gets as many samples per step as it would alone). One task: just `parts[0].sample`."""
    batches = [part.sample(batch_size) for part in parts]
    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


def _fit(offset: tuple[int, int], grid_in: np.ndarray, grid_out: np.ndarray, aug: Aug, canvas: int):
    """The offset, shrunk so that both augmented grids (and their end-of-grid marker) stay on the canvas."""
    shapes = [aug.apply(grid_in).shape, aug.apply(grid_out).shape]
    room_r = canvas - max(s[0] for s in shapes)
    room_c = canvas - max(s[1] for s in shapes)
    return min(offset[0], max(room_r - 1, 0)), min(offset[1], max(room_c - 1, 0))


def new_model(config: TRMConfig, num_versions: int, device: torch.device, seed: int = 0) -> TRM:
    """A freshly initialised TRM with a puzzle-embedding row per version (+ the blank row 0)."""
    torch.manual_seed(seed)
    return TRM(dataclasses.replace(config, num_puzzle_ids=num_versions + 1)).to(device)


def from_pretrained(base: TRM, num_versions: int, device: torch.device) -> TRM:
    """A copy of a pretrained model whose puzzle-embedding table has one row per version of the new task (+
    the blank row 0), each initialised to the mean of the base model's trained (non-zero) rows."""
    table = base.puzzle_emb.weight
    trained = table[table.abs().sum(-1) > 0]
    mean = trained.mean(0) if len(trained) else torch.zeros_like(table[0])
    model = copy.deepcopy(base)
    model.config = dataclasses.replace(base.config, num_puzzle_ids=num_versions + 1)
    model.puzzle_emb.weight = mean.expand(num_versions + 1, -1).clone()
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

    Shared by test-time training (`solve`) and pretraining (`arc_trm.train`, whose OptimConfig has the same
    fields plus `lr_min_ratio`). Under torch.distributed each rank steps on its slice of the global batch: the
    loss is divided by the global batch and the weight gradients are summed over ranks (as the official loop;
    the puzzle-embedding rows are gathered by their optimiser), so every rank applies the same update.
    `state_dict()` holds everything but the model for an exact resume, the persistent batch (`carry`) included.
    """

    def __init__(self, model: TRM, config: TTTConfig, total_steps: int | None = None):
        self.model, self.config = model, config
        self.total_steps = total_steps or config.max_steps
        self.last: tuple[ACTLoss, dict[str, torch.Tensor]] | None = None  # last step's loss and outputs
        params = [] if config.train == "embeddings" else list(model.parameters())
        for p in model.parameters():
            p.requires_grad_(config.train != "embeddings")
        self.weights = AdamATan2(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay) \
            if params else None
        self.embeddings = PuzzleEmbeddingSignSGD(
            model.puzzle_emb.weight, lr=config.puzzle_emb_lr, weight_decay=config.puzzle_emb_weight_decay)
        self.ema = EMA(model, mu=config.ema) if config.ema > 0 and params else None
        self.lr_min_ratio = getattr(config, "lr_min_ratio", 1.0)  # 1.0: constant after warmup (every recipe)
        self.carry = None
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
        return {"loss": loss.loss.item() / len(batch["inputs"]),
                "accuracy": float(loss.token_accuracy.mean()), "exact": float(loss.seq_correct.float().mean())}

    def state_dict(self) -> dict:
        """Step count, both optimisers, the EMA and the persistent batch (the model's own state is separate)."""
        carry = None if self.carry is None else {
            "y": self.carry.y, "z": self.carry.z, "steps": self.carry.steps, "halted": self.carry.halted,
            "data": dict(self.carry.data)}
        return {"steps": self.steps, "weights": self.weights.state_dict() if self.weights else None,
                "embeddings": self.embeddings.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "carry": carry}

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
        self.carry = None if carry is None else Carry(
            carry["y"].to(device), carry["z"].to(device), carry["steps"].to(device), carry["halted"].to(device),
            {k: v.to(device) for k, v in carry["data"].items()})

    def _update(self) -> None:
        c, emb = self.config, self.model.puzzle_emb
        if self.weights is not None:
            for group in self.weights.param_groups:
                group["lr"] = lr_at(self.steps, c.lr, c.warmup_steps, self.total_steps, self.lr_min_ratio)
            self.weights.step()
            self.weights.zero_grad(set_to_none=True)
        self.embeddings.lr = lr_at(self.steps, c.puzzle_emb_lr, c.warmup_steps, self.total_steps, self.lr_min_ratio)
        self.embeddings.step(emb.ids, emb.rows.grad)
        if self.ema is not None:
            self.ema.update(self.model)
