"""Solving one task, or a group of tasks trained together in one model, within a slice of time: encode every
augmented version, measure the rollout, train until the slice leaves just enough for it, roll out, vote, and
make each task's record. Out of memory retries smaller; any other error becomes a fallback record (a group
that fails has its tasks solved one by one), so one broken task never costs the others their answers.

    records = solve_or_fail(group, config, seconds, device, emit, base)

The run around it (budget, resume, workers, submission) is `arc_trm.solve.run`.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from typing import Any

import torch

from arc_trm.core import submission
from arc_trm.core.config import to_dict
from arc_trm.core.events import Listener, Phase, Progress, Retry
from arc_trm.core.tasks import Task
from arc_trm.data import augment, task_encoding
from arc_trm.model import TRM
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.records import Status, make_record
from arc_trm.solve.schedule import (
    rollout_seconds,
    rollout_versions,
    step_fits,
    step_guess,
)
from arc_trm.ttt import predict, vote
from arc_trm.ttt import trainer as ttt


def group_name(group: list[Task]) -> str:
    return "+".join(task.id for task in group)


def fallback_record(task: Task, status: Status, reason: str, config: SolveConfig) -> dict:
    """A record without an answer: every test input answered by itself (or [[0]]), and why."""
    attempts = [(submission.fallback_grid(g),) * 2 for g in task.test_inputs]
    record = make_record(task.id, attempts, [[] for _ in task.test_inputs], {}, to_dict(config), status)
    record["reason"] = reason
    return record


def solve_or_fail(
    group: list[Task],
    config: SolveConfig,
    seconds: float,
    device: torch.device,
    emit: Listener,
    base: TRM | None = None,
) -> list[dict]:
    """Solve a group; out of memory retries with half the versions, any other error gives fallbacks (a
    group that fails has its tasks solved alone, so one broken task never costs the others their answers)."""
    attempt_config, end, name = config, time.monotonic() + seconds, group_name(group)
    for _ in range(3):
        try:
            records = solve_group(group, attempt_config, end - time.monotonic(), device, emit, base)
            return [_as_asked(record, config, attempt_config) for record in records]
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            smaller = max(1, attempt_config.ttt.versions // 2)
            attempt_config = _with_ttt(
                attempt_config, versions=smaller, batch_size=max(1, attempt_config.ttt.batch_size // 2)
            )
            emit(Retry(name, "out of memory", smaller))
        except OutOfTime as err:
            return [fallback_record(task, Status.SKIPPED, f"out of time: {err}", config) for task in group]
        except Exception as err:
            if len(group) == 1:
                return [fallback_record(group[0], Status.FAILED, f"{type(err).__name__}: {err}", config)]
            emit(Retry(name, f"{type(err).__name__}: {err}; each task alone"))
            return _solve_alone(group, config, end, device, emit, base)
    return [fallback_record(task, Status.FAILED, "out of memory at the smallest size", config) for task in group]


def _as_asked(record: dict, asked: SolveConfig, ran: SolveConfig) -> dict:
    """The record under the config it was asked to run (what resume compares), and what it ran with if that
    differs (an out-of-memory retry's fewer versions and smaller batch)."""
    if ran is not asked:
        record.update(config=to_dict(asked), ran_with={"versions": ran.ttt.versions, "batch_size": ran.ttt.batch_size})
    return record


def _solve_alone(
    group: list[Task], config: SolveConfig, end: float, device: torch.device, emit: Listener, base: TRM | None
) -> list[dict]:
    """The tasks of a failed group one by one, sharing the group's remaining time equally."""
    records = []
    for i, task in enumerate(group):
        seconds = (end - time.monotonic()) / (len(group) - i)
        records += (
            solve_or_fail([task], config, seconds, device, emit, base)
            if seconds > 0
            else [fallback_record(task, Status.SKIPPED, "out of time", config)]
        )
    return records


def _with_ttt(config: SolveConfig, **changes: Any) -> SolveConfig:
    return dataclasses.replace(config, ttt=dataclasses.replace(config.ttt, **changes))


class OutOfTime(Exception):
    """Not even the smallest rollout (and one training step) fits in the time a task has."""


def solve_group(
    group: list[Task],
    config: SolveConfig,
    seconds: float,
    device: torch.device,
    emit: Listener,
    base: TRM | None = None,
) -> list[dict]:
    """Train one model on the group's augmented demonstrations (each task's versions their own puzzle rows, a
    batch of each task per step), then roll out and vote per task, all within `seconds`; a record per task.

    The rollout's cost is measured before training (one supervision step on a few test rows); it keeps as
    many augmented versions as fit in `predict_share` of the slice (at least one, else OutOfTime), and
    training stops early enough for it, never starting a step that would not end in time (the split's rules:
    `arc_trm.solve.schedule`).
    """
    start = time.monotonic()
    end = start + seconds
    c, name = config.ttt, group_name(group)
    canvas = max(task_encoding.task_canvas(task, c.translate) for task in group)
    parts = encode_group(group, config, canvas)
    num_versions = sum(len(part.augs) for part in parts)
    torch.manual_seed(config.seed)  # training draws from the global RNG (ACT exploration): seeded on both paths
    model = (
        ttt.from_pretrained(base, num_versions, device)
        if base is not None
        else ttt.new_model(config.model, num_versions, device, seed=config.seed)
    )
    trainer = ttt.Trainer(model, c, c.max_steps)
    per_row = predict.time_step(model, parts[0])  # one eval supervision step of one test input in one version
    per_version = rollout_seconds(per_row, sum(p.test_per_version for p in parts), model.config.N_sup)  # all tasks
    batch = ttt.batch_size(c, canvas)
    step_time = step_guess(per_row, batch, len(parts))  # until the first step is measured
    left = end - time.monotonic()
    versions = rollout_versions(left, per_version, step_time, config.predict_share, min(len(p.augs) for p in parts))
    if versions < 1:
        raise OutOfTime(f"a rollout and a training step need {per_version + step_time:.1f} s, {left:.1f} s left")
    train_until = end - versions * per_version
    emit(Phase(name, "train", num_versions, canvas))
    metrics: dict[str, float] = {}
    while trainer.steps < c.max_steps and step_fits(time.monotonic(), step_time, train_until):
        began = time.monotonic()
        metrics = trainer.step(task_encoding.sample_joint(parts, batch))
        step_time = time.monotonic() - began if trainer.steps == 1 else max(step_time, time.monotonic() - began)
        if trainer.steps % 25 == 0:
            emit(Progress(name, trainer.steps, **metrics))
    trained = time.monotonic()
    emit(Phase(name, "predict", versions))
    with trainer.ema.swapped_in(model) if trainer.ema else nullcontext():
        candidates = [predict.rollout(model, part, config.rollout_batch, versions) for part in parts]
    timings = {"train": trained - start, "predict": time.monotonic() - trained, "total": time.monotonic() - start}
    records = [task_record(task, cs, config, timings) for task, cs in zip(group, candidates)]
    for record, part in zip(records, parts):
        record.update(
            steps=trainer.steps,
            canvas=canvas,
            versions=len(part.augs),
            voted_versions=versions,
            device=str(device),
            train_metrics=metrics,
        )
        if len(group) > 1:
            record["group"] = [task.id for task in group]
    return records


def encode_group(group: list[Task], config: SolveConfig, canvas: int) -> list[task_encoding.TaskData]:
    """Each task's augmented versions on the group's canvas, puzzle ids numbered on from the previous task's."""
    c, parts, first_id = config.ttt, [], 1
    for task in group:
        augs = augment.versions(task, c.versions, config.seed, c.permute_background, c.translate, c.dihedral)
        parts.append(task_encoding.task_data(task, augs, canvas, seed=config.seed, first_id=first_id))
        first_id += len(augs)
    return parts


def task_record(task: Task, candidates: list, config: SolveConfig, timings: dict[str, float]) -> dict:
    """A task's record from its rollout candidates: voted attempts (fallbacks where nothing was predicted)."""
    ranked = [vote.vote(cs, config.vote) for cs in candidates]
    attempts = [vote.top2(r, submission.fallback_grid(g)) for r, g in zip(ranked, task.test_inputs)]
    top = [[{"grid": r.grid, "votes": r.votes, "mean_confidence": r.mean_confidence} for r in rs[:5]] for rs in ranked]
    status = Status.PREDICTED if all(rs for rs in ranked) else Status.FALLBACK
    return make_record(task.id, attempts, top, timings, to_dict(config), status)
