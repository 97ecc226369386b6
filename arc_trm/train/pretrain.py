"""Pretraining: the official TRM recipe on every ARC task, data-parallel over processes, resumable.

    config = load_config(TrainConfig, "configs/arc1.yaml", ["steps=1000"])
    summary = train(config, "runs/arc1")        # under torchrun: one process per GPU (or CPU gloo ranks)

The loop is the official one (TRM_SPEC 3): a persistent ACT batch whose halted slots are refilled from the
next global batch, one supervision step per optimiser step (`ttt.Trainer`, shared with test-time training),
AdamATan2 on the weights and sign SGD on the puzzle-embedding rows with their own learning rates and weight
decays, warmup, EMA; bf16 autocast on CUDA (inside the model), optional torch.compile of the network.

Data parallelism as the official loop (no DistributedDataParallel wrapper): every rank draws the same global
batches and keeps its own contiguous slice (no overlap), the weight gradients are summed over ranks after
backward, the puzzle-embedding rows of all ranks are gathered by their optimiser. Rank 0 alone writes the run
folder (`arc_trm.train.run`: config.yaml, metrics.jsonl, resume/), and here versions.npz (the tasks' versions,
drawn once), identifiers.json (puzzle id -> official name), checkpoints/step_N.pt (EMA weights, loadable by
`solve --checkpoint`) and evals/step_N/submission.json; each rank adds its own resume/rank<r>_step_N.pt (its
part of the persistent batch and its random state). The resume state (with the sampler's position) is saved
every `save_every` steps, at each evaluation and at the end, so a run started again with the same command
continues exactly from there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml

from arc_trm.core import submission
from arc_trm.core.config import ConfigError, apply_overrides, from_dict, to_dict
from arc_trm.core.events import Evaluated, Listener, Logged, Measured, Resumed, TrainDone, TrainStarted, Warned, ignore
from arc_trm.core.io import write_json
from arc_trm.data.dataset import DataConfig, PretrainData, Sampler
from arc_trm.model import TRM, TRMConfig, checkpoint
from arc_trm.model.cost import step_flops
from arc_trm.train.run import (
    Metrics,
    Ranks,
    answer,
    barrier,
    gather,
    load_resume,
    save_resume,
    score,
    setup_ranks,
    start,
)
from arc_trm.ttt.optim import OptimConfig
from arc_trm.ttt.trainer import Trainer


@dataclass
class TrainConfig:
    """A pretraining run (YAML: configs/arc1.yaml, configs/arc2.yaml, configs/debug.yaml)."""

    model: TRMConfig = field(default_factory=TRMConfig)  # the paper's ARC model (T=3, n=4: see configs/arc1.yaml)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    global_batch_size: int = 768  # examples per optimiser step over all ranks
    epochs: int = 100000  # official epochs: every task once, in one random version
    eval_interval: int = 10000  # epochs between evaluations (each also writes a checkpoint)
    steps: int = 0  # > 0: stop after this many optimiser steps instead of `epochs`
    eval_every: int = 0  # > 0: evaluate every this many steps instead of every `eval_interval` epochs
    log_every: int = 10  # steps per line of metrics.jsonl
    save_every: int = 1000  # steps between saves of the resume state (also saved at each evaluation and at the end)
    eval_batch: int = 256  # rollout rows per forward, per rank
    vote: str = "count_then_confidence"
    seed: int = 0
    device: str = "auto"  # "auto": this rank's GPU when there is one, else the CPU
    compile: bool = False  # torch.compile the network (the recursion's blocks)
    init: str | None = None  # start from this checkpoint (ours or official); other puzzle rows: their mean
    measure_steps: int = 5  # steps timed for the cost model's time estimates
    tensorboard: bool = False  # also log to RUN_DIR/tensorboard (rank 0), if tensorboard is installed


def from_official(all_config: str | Path, data: DataConfig, overrides: list[str] | None = None) -> TrainConfig:
    """The run an official `all_config.yaml` describes (its arch, optimiser, batch, epochs, evaluation interval
    and seed under the official names), on `data` (`reproduce.read_build`), then the overrides."""
    path = Path(all_config)
    try:
        official = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot be read as YAML ({error})") from None
    if not isinstance(official, dict) or not isinstance(official.get("arch"), dict):
        raise ConfigError(f"{path}: not an official all_config.yaml (no arch section)")
    arch = {"vocab_size": 12, "seq_len": 900, **official["arch"]}  # ARC's: the official code takes them from the data
    model = checkpoint.config_from_official(arch, arch.get("name", "trm"))

    def need(key: str) -> Any:
        if key not in official:
            raise ConfigError(f"{path}: no {key} (an official all_config.yaml names every setting of its run)")
        return official[key]

    ours = {
        "model": to_dict(model),
        "data": to_dict(data),
        "seed": official.get("seed", 0),
        "optim": {
            "lr": need("lr"),
            "puzzle_emb_lr": need("puzzle_emb_lr"),
            "weight_decay": need("weight_decay"),
            "puzzle_emb_weight_decay": need("puzzle_emb_weight_decay"),
            "betas": [need("beta1"), need("beta2")],
            "warmup_steps": need("lr_warmup_steps"),
            "lr_min_ratio": need("lr_min_ratio"),
            "ema": need("ema_rate") if need("ema") else 0.0,
        },
        "global_batch_size": need("global_batch_size"),
        "epochs": need("epochs"),
        "eval_interval": need("eval_interval"),
    }
    merged = apply_overrides(ours, overrides) if overrides else ours
    return from_dict(TrainConfig, merged, str(path) + (" with overrides " + " ".join(overrides) if overrides else ""))


# --------------------------------------------------------------------------------------------- the model


def model_for_run(config: TrainConfig, data: PretrainData, device: torch.device, emit: Listener = ignore) -> TRM:
    """The model for this data (one puzzle row per version, + blank), from scratch or from `config.init`; an
    init whose puzzle table has another size is said (`Warned`): its rows belong to other puzzles."""
    if config.model.output_coords:
        raise ValueError(
            "model.output_coords is for test-time training (solve): pretraining batches carry no "
            "expected output shape (out_shape); set it to false"
        )
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    model = TRM(dataclasses.replace(config.model, num_puzzle_ids=data.num_puzzle_ids))
    if config.init:
        base = checkpoint.load_any(config.init)
        state = base.state_dict()
        table = state["puzzle_emb.weight"]
        if table.shape != model.puzzle_table.weight.shape:  # the official loader: every row at the mean
            emit(
                Warned(
                    f"init {config.init}: its puzzle-embedding table has {table.shape[0]:,} rows, this data "
                    f"{model.puzzle_table.weight.shape[0]:,} identifiers (another build: other subsets, seed or "
                    "augmentation count): every row starts at the mean of its trained rows"
                )
            )
            trained = table[table.abs().sum(-1) > 0]
            mean = trained.mean(0) if len(trained) else torch.zeros_like(table[0])
            state["puzzle_emb.weight"] = mean.expand_as(model.puzzle_table.weight).clone()
        model.load_state_dict(state)
    model = model.to(device)
    if config.compile:
        model.net.compile()  # in place: the state-dict names stay those of the uncompiled model
    return model


def total_steps(config: TrainConfig, data: PretrainData) -> int:
    """Optimiser steps of the run: `steps`, or the official int(epochs * groups * mean examples / batch)."""
    return config.steps if config.steps > 0 else int(config.epochs * data.steps_per_epoch(config.global_batch_size))


def eval_every(config: TrainConfig, data: PretrainData) -> int:
    """Steps between evaluations: `eval_every`, or `eval_interval` epochs' worth."""
    if config.eval_every > 0:
        return config.eval_every
    return max(1, int(config.eval_interval * data.steps_per_epoch(config.global_batch_size)))


# ------------------------------------------------------------------------------------------- cost model


def cost_model(model: TRM, config: TrainConfig, data: PretrainData, steps: int) -> dict[str, float]:
    """Parameters, tokens and FLOPs per optimiser step (global batch), and the step counts of the run.

    FLOPs: `arc_trm.model.cost.step_flops` of the global batch (T(n+1) passes forward, the last n+1 backward).
    """
    c = model.config
    params = sum(p.numel() for p in model.parameters())
    length = model.prefix_len + c.seq_len
    tokens = config.global_batch_size * length
    flops = step_flops(c, config.global_batch_size, length)["train"]
    return {
        "params": params,
        "puzzle_table": model.puzzle_emb.weight.numel() if model.puzzle_emb else 0,
        "tokens_per_step": tokens,
        "flops_per_step": float(flops),
        "steps_per_epoch": data.steps_per_epoch(config.global_batch_size),
        "total_steps": steps,
        "groups": len(data.groups),
        "versions": data.num_versions,
        "mean_examples": data.mean_examples,
    }


# --------------------------------------------------------------------------------------------- evaluation


def score_test_pairs(
    model: TRM,
    data: PretrainData,
    groups: list[int],
    ranks: Ranks,
    batch: int = 256,
    policy: str = "count_then_confidence",
) -> tuple[dict[str, float], dict[str, list]]:
    """Roll out the held-out test inputs of `groups` in their versions, vote, score pass@1 and pass@2.

    Tasks are shared round robin over the ranks; rank 0 gets everything back and returns the scores and the
    submission (the other ranks return empty ones). Evaluates the model as it is (swap the EMA in first).
    """
    local = {}
    for group in groups[ranks.rank :: ranks.world]:
        task = data.eval_data(group)
        fallbacks = [submission.fallback_grid(a) for a, _ in data.groups[group].held_out]
        local[task.task_id] = [
            {k: grid.tolist() for k, grid in attempts.items()}
            for attempts in answer(model, task, fallbacks, batch, policy=policy)
        ]
    gathered = gather(ranks, local)
    if not ranks.main:
        return {}, {}
    answers = {k: v for part in gathered for k, v in part.items()}
    solutions = data.solutions(groups)
    return {**score(answers, solutions), "tasks": len(solutions)}, answers


# -------------------------------------------------------------------------------------------------- metrics


class Meter:
    """Sums of one logging interval's step metrics on the device (no sync per step), reduced over ranks."""

    NAMES = (
        "rows",
        "loss",
        "lm_loss",
        "q_halt_loss",
        "halted",
        "accuracy",
        "exact_accuracy",
        "q_halt_accuracy",
        "halt_steps",
    )

    def __init__(self, device: torch.device):
        self.device, self.sums, self.steps, self.seconds = device, torch.zeros(len(self.NAMES), device=device), 0, 0.0

    @torch.no_grad()
    def add(self, trainer: Trainer, seconds: float) -> None:
        assert trainer.last is not None and trainer.carry is not None  # called after trainer.step
        loss, outputs = trainer.last
        carry = trainer.carry
        done = carry.halted & (loss.num_supervised > 0)  # the official metrics count slots that halted now
        q_right = (outputs["q_halt_logits"] >= 0) == loss.seq_correct
        values = [
            len(done),
            loss.loss,
            loss.lm_loss,
            loss.q_halt_loss,
            done.sum(),
            loss.token_accuracy[done].sum(),
            loss.seq_correct[done].sum(),
            q_right[done].sum(),
            carry.steps[done].sum(),
        ]
        self.sums += torch.stack([torch.as_tensor(v, dtype=torch.float32, device=self.device) for v in values])
        self.steps, self.seconds = self.steps + 1, self.seconds + seconds

    def result(self, ranks: Ranks) -> dict[str, float]:
        sums = self.sums.clone()
        if ranks.world > 1:
            dist.all_reduce(sums)
        s = dict(zip(self.NAMES, sums.tolist()))
        rows, halted = max(s["rows"], 1), max(s["halted"], 1)
        out = {
            "loss": s["loss"] / rows,
            "lm_loss": s["lm_loss"] / rows,
            "q_halt_loss": s["q_halt_loss"] / rows,
            "halted": s["halted"] / max(self.steps, 1),
        }
        out.update({k: s[k] / halted for k in ("accuracy", "exact_accuracy", "q_halt_accuracy", "halt_steps")})
        out["step_seconds"] = self.seconds / max(self.steps, 1)
        out["examples_per_second"] = s["rows"] / max(self.seconds, 1e-9)  # all ranks (they step in lockstep)
        self.sums.zero_()
        self.steps, self.seconds = 0, 0.0
        return out


# ----------------------------------------------------------------------------------------------- the run


# What a resumed run may change: where it runs, how long, how often it logs, evaluates and saves.
FREE_ON_RESUME = (
    "device",
    "steps",
    "epochs",
    "eval_every",
    "eval_interval",
    "log_every",
    "save_every",
    "eval_batch",
    "measure_steps",
    "tensorboard",
)


def train(
    config: TrainConfig,
    out: str | Path,
    on_event: Listener | None = None,
    stop_at: int | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the pretraining described by `config` in the folder `out`; see the module docstring.

    `on_event` (rank 0 only) gets the typed events of `arc_trm.core.events`: TrainStarted (with the cost model),
    Resumed, Measured, Logged and Evaluated (with their metrics.jsonl record), Warned, TrainDone.
    `stop_at` ends the run after that step (state saved, as at any interruption); `fresh` discards a saved
    state. Returns a summary (steps, last metrics, last scores) on rank 0.
    """
    ranks = setup_ranks(config.device)
    try:
        return _train(config, Path(out), ranks, on_event if ranks.main and on_event else ignore, stop_at, fresh)
    finally:
        if ranks.owns_group:
            dist.destroy_process_group()


def _train(
    config: TrainConfig, out: Path, ranks: Ranks, emit: Listener, stop_at: int | None, fresh: bool
) -> dict[str, Any]:
    if config.global_batch_size % ranks.world:
        raise ConfigError(f"global_batch_size {config.global_batch_size} is not a multiple of {ranks.world} ranks")
    start(out, ranks, config, FREE_ON_RESUME, fresh)
    data = PretrainData.build(config.data, out / "versions.npz") if ranks.main else None  # drawn once, then read
    barrier(ranks)
    data = data or PretrainData.build(config.data, out / "versions.npz")
    steps, every = total_steps(config, data), eval_every(config, data)
    model = model_for_run(config, data, ranks.device, emit)
    trainer = Trainer(model, config.optim, steps)
    sampler = Sampler(data, config.global_batch_size, config.seed, config.data.translate)
    torch.manual_seed(config.seed + ranks.rank)  # halting exploration differs per rank, as the official loop
    resumed = load_resume(out, ranks, trainer)
    if resumed:
        sampler.load_state_dict(resumed[0]["sampler"])
    log = Metrics(out, config.tensorboard) if ranks.main else None
    if ranks.main and not (out / "identifiers.json").is_file():
        write_json(data.identifiers(), out / "identifiers.json")
    costs = cost_model(model, config, data, steps)
    emit(TrainStarted("official", str(ranks.device), {"world": ranks.world, **costs}))
    if log and config.tensorboard and log.writer is None:
        emit(Warned("tensorboard=true but torch.utils.tensorboard cannot be imported: metrics.jsonl only"))
    if resumed:
        emit(Resumed(trainer.steps, sampler.epochs_done))

    local = config.global_batch_size // ranks.world
    meter, record, scores = Meter(ranks.device), {}, {}
    timed: list[float] = []  # seconds of the first steps, for the cost model's time estimates
    end = steps if stop_at is None else min(steps, stop_at)
    while trainer.steps < end:
        began = time.perf_counter()
        rows = sampler.next_batch()[ranks.rank * local : (ranks.rank + 1) * local]
        trainer.step(data.encode(rows))
        seconds = time.perf_counter() - began
        meter.add(trainer, seconds)
        step = trainer.steps
        if len(timed) <= max(1, config.measure_steps):
            timed.append(seconds)
            if len(timed) == max(1, config.measure_steps) + 1:  # the first step (warm-up, compilation) is left out
                per_step = statistics.median(timed[1:])
                emit(
                    Measured(
                        per_step,
                        per_step * costs["steps_per_epoch"],
                        per_step * (steps - step),
                        costs["flops_per_step"] / per_step / 1e12 / ranks.world,
                    )
                )
        if step % config.log_every == 0 or step == end:
            record = {
                "kind": "train",
                "step": step,
                "epoch": sampler.epochs_done,
                "lr": trainer.weights.param_groups[0]["lr"] if trainer.weights else trainer.embeddings.lr,
                **meter.result(ranks),
                "time": time.time(),
            }
            if log:
                log.write(record)
            emit(Logged(record))
        if step % every == 0 or step == steps:
            scores = _evaluate_and_save(config, out, ranks, data, trainer, sampler, step, log, emit)
        elif step % config.save_every == 0 and step != end:
            _save(out, ranks, trainer, sampler)
    if trainer.steps % every and trainer.steps != steps:  # else saved with the evaluation just now
        _save(out, ranks, trainer, sampler)
    emit(TrainDone(trainer.steps, trainer.steps >= steps))
    return {
        "steps": trainer.steps,
        "total_steps": steps,
        "train": record,
        "eval": scores,
        "params_digest": params_digest(model),
    }


def _evaluate_and_save(
    config: TrainConfig,
    out: Path,
    ranks: Ranks,
    data: PretrainData,
    trainer: Trainer,
    sampler: Sampler,
    step: int,
    log: Metrics | None,
    emit: Listener,
) -> dict[str, float]:
    """Evaluate with the EMA weights, write their checkpoint, the submission and the resume state."""
    model = trainer.model
    began = time.perf_counter()
    with trainer.ema.swapped_in(model) if trainer.ema else nullcontext():
        scores, answers = score_test_pairs(model, data, data.eval_groups(), ranks, config.eval_batch, config.vote)
        if ranks.main:
            provenance = {
                "run": str(out),
                "step": step,
                "weights": "ema" if trainer.ema else "raw",
                "identifiers": str(out / "identifiers.json"),
            }
            checkpoint.save_checkpoint(out / "checkpoints" / f"step_{step}.pt", model, provenance)
            write_json(answers, out / "evals" / f"step_{step}" / "submission.json")
    digests = gather(ranks, params_digest(model))  # every rank must hold the same weights
    if ranks.main:
        record = {
            "kind": "eval",
            "step": step,
            **scores,
            "eval_seconds": time.perf_counter() - began,
            "ranks_in_sync": len(set(digests)) == 1,
            "param_digests": digests,
            "time": time.time(),
        }
        if log:
            log.write(record)
        emit(Evaluated(record, str(out / "checkpoints" / f"step_{step}.pt")))
    _save(out, ranks, trainer, sampler)
    return scores


def _save(out: Path, ranks: Ranks, trainer: Trainer, sampler: Sampler) -> None:
    """The resume state: the trainer's, and the sampler's position (shared by the ranks)."""
    save_resume(out, ranks, trainer, {"sampler": sampler.state_dict()}, {})


def params_digest(model: TRM) -> str:
    """A hex digest of every parameter and buffer (to compare ranks or runs bit for bit)."""
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


__all__ = [
    "DataConfig",
    "Meter",
    "TrainConfig",
    "cost_model",
    "params_digest",
    "score_test_pairs",
    "total_steps",
    "train",
]
