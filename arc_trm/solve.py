"""`solve`: per-task test-time training and voting over a whole task set, under a runtime budget, resumable.

    report = solve(taskset, "submission.json", load_config(SolveConfig, "configs/cpu.yaml"), budget_seconds=600)

The submission is written (complete and valid, with fallbacks) before any work starts and again after every
task; each finished task's record is saved beside it (`submission.json.records/`), so the same call after a
crash continues where it stopped. Input problems go to `submission.problems.json`.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import time
from contextlib import nullcontext
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from arc_trm import augment, checkpoint, predict, submission, ttt, vote
from arc_trm.budget import BudgetPlanner, Deadline
from arc_trm.config import to_dict
from arc_trm.io import write_json
from arc_trm.model import TRM, TRMConfig
from arc_trm.plan import TaskWork, config_for, seconds_of
from arc_trm.records import RecordStore, attempts_of, make_record, problems_path, records_dir
from arc_trm.tasks import Task, TaskSet


def _cpu_model() -> TRMConfig:
    return TRMConfig(hidden_size=64, num_heads=2, puzzle_emb_dim=64, puzzle_emb_len=4, T=1, n=1, N_sup=2,
                     grid_coords=True, output_coords=True)


@dataclass
class SolveConfig:
    """Everything `solve` does per task (YAML: configs/cpu.yaml); the defaults are the CPU default."""

    model: TRMConfig = field(default_factory=_cpu_model)
    ttt: ttt.TTTConfig = field(default_factory=ttt.TTTConfig)
    vote: str = "count_then_confidence"  # or "count"
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when there is one), "cpu", "cuda", "cuda:1", ...
    task_seconds: float = 45.0  # time per task when no --time-budget is given
    min_task_seconds: float = 3.0  # a task that cannot get this much time gets its fallback instead
    checkpoint: Optional[str] = None  # start from this pretrained model (ours or official) instead of scratch
    rollout_batch: int = 256
    group_tasks: int = 1  # tasks trained together in one model, similar canvases side by side in each batch
    # (pays on a GPU, which one small task's batch leaves mostly idle; on a CPU, 1)
    predict_share: float = 0.3  # at most this share of a task's time goes to the rollout (fewer versions if needed)


@dataclass
class TaskResult:
    """What solving one task produced: its record (as saved) and the attempts per test input."""

    task_id: str
    status: str  # predicted, fallback, failed, skipped
    record: dict[str, Any]


@dataclass
class SolveReport:
    """The whole run: results per task (resumed ones included), counts, and where things were written."""

    out: Path
    results: list[TaskResult]
    resumed: int
    problems: int
    seconds: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


Event = Callable[..., None]
SAFETY = 1.25  # margin on measured step times
TRAIN_STEP_FACTOR = 3.0  # a training step per row against an eval step per row (backward, optimiser), roughly


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def solve(taskset: TaskSet, out: str | Path, config: SolveConfig, budget_seconds: float | None = None,
          fresh: bool = False, on_event: Event | None = None, base: TRM | None = None,
          workers: int = 1, plan: Mapping[str, TaskWork] | None = None) -> SolveReport:
    """Solve every task of `taskset` into the submission `out`; see the module docstring.

    `base` is a pretrained model to start each task from (else `config.checkpoint` is loaded, if set).
    `workers` > 1 shards the tasks over that many processes (one per GPU when there are GPUs).
    `plan` (arc_trm.plan) gives each task its versions, steps and share of the time (steps 0: fallback).
    """
    emit = on_event or (lambda *args, **kwargs: None)
    deadline = Deadline(budget_seconds)
    out = Path(out)
    store = RecordStore(records_dir(out))
    if fresh:
        store.clear()
    records = _write_submission(taskset, store, out)
    problems = taskset.problems + store.problems  # unreadable saved records are redone, and reported
    write_json([p.__dict__ for p in problems], problems_path(out), indent=1)
    resumed = {tid for tid, rec in records.items()
               if _same_work(rec.get("config", {}), config_for(config, plan, [tid]))}
    emit("start", tasks=len(taskset), resumed=len(resumed), problems=len(taskset.problems),
         stale=len(records) - len(resumed))
    todo = [t for t in taskset if t.id not in resumed]
    if workers > 1 and len(todo) > 1:
        _run_workers(todo, taskset, out, config, deadline, workers, emit, plan)
    else:
        if base is None and config.checkpoint and todo:
            base = checkpoint.load_any(config.checkpoint)
        _solve_tasks(todo, taskset, out, store, config, deadline, emit, base, plan)
    records = _write_submission(taskset, store, out)
    results = [TaskResult(t.id, records[t.id]["status"], records[t.id]) for t in taskset if t.id in records]
    return SolveReport(out, results, len(taskset) - len(todo), len(taskset.problems), deadline.elapsed())


def _same_work(saved: dict, config: SolveConfig) -> bool:
    """Whether a saved record was made with this config (the device aside: workers each have their own)."""
    ignore = {"device"}
    current = to_dict(config)
    return {k: v for k, v in saved.items() if k not in ignore} == {k: v for k, v in current.items() if k not in ignore}


def _solve_tasks(todo: list[Task], taskset: TaskSet, out: Path, store: RecordStore, config: SolveConfig,
                 deadline: Deadline, emit: Event, base: TRM | None,
                 plan: Mapping[str, TaskWork] | None = None) -> None:
    """Solve `todo` a group at a time (one task unless `group_tasks` > 1) within the deadline, saving each
    record and the submission as a group ends."""
    cap = config.task_seconds if deadline.budget is None else None
    planner = BudgetPlanner(todo, None if deadline.budget is None else deadline.remaining(), per_task_cap=cap,
                            translate=config.ttt.translate, costs=seconds_of(plan))
    device = resolve_device(config.device)
    for group in groups(todo, config.group_tasks, config.ttt.translate):
        name = group_name(group)
        seconds = math.fsum(planner.slice_for(task.id, deadline.remaining()) for task in group)
        emit("task", task_id=name, seconds=seconds)
        if not all(task.solvable for task in group):
            records = [_fallback_record(task, "skipped", "no valid demonstration or test input", config)
                       for task in group]
        elif seconds < config.min_task_seconds:
            records = [_fallback_record(task, "skipped", "out of time", config) for task in group]
        else:
            records = _solve_or_fail(group, config_for(config, plan, [t.id for t in group]), seconds, device,
                                     emit, base)
        for record in records:
            planner.done(record["task_id"])
            store.save(record)
            emit("done", task_id=record["task_id"], record=record)
        _write_submission(taskset, store, out)


def groups(todo: list[Task], size: int, translate: int = 0) -> list[list[Task]]:
    """The tasks in groups of at most `size` to train jointly: tasks with something to solve sorted by canvas,
    so that a group's members share one canvas with little padding; the others alone. Size 1: `todo`'s order."""
    if size <= 1:
        return [[task] for task in todo]
    solvable = sorted((t for t in todo if t.solvable), key=lambda t: ttt.task_canvas(t, translate))
    return [solvable[i:i + size] for i in range(0, len(solvable), size)] + \
        [[task] for task in todo if not task.solvable]


def group_name(group: list[Task]) -> str:
    return "+".join(task.id for task in group)


def _write_submission(taskset: TaskSet, store: RecordStore, out: Path) -> dict[str, dict]:
    """Write the complete submission from every saved record (other workers' too); returns those records."""
    records = {tid: rec for tid, rec in store.load_all().items() if tid in set(taskset.ids)}
    attempts = {tid: attempts_of(rec) for tid, rec in records.items() if rec.get("attempts")}
    submission.write(submission.build(taskset, attempts), out)
    return records


def _run_workers(todo: list[Task], taskset: TaskSet, out: Path, config: SolveConfig, deadline: Deadline,
                 workers: int, emit: Event, plan: Mapping[str, TaskWork] | None = None) -> None:
    """Shard `todo` over processes (round robin), one per GPU if there are any; report records as they land."""
    gpus = torch.cuda.device_count() if config.device in ("auto", "cuda") else 0
    threads = max(1, (os.cpu_count() or 1) // workers)
    end = time.monotonic() + deadline.remaining() if deadline.budget is not None else None
    context = multiprocessing.get_context("spawn")
    processes = []
    for i in range(workers):
        device = f"cuda:{i % gpus}" if gpus else ("cpu" if config.device == "auto" else config.device)
        shard = todo[i::workers]
        if shard:
            worker_config = dataclasses.replace(config, device=device)
            process = context.Process(target=_worker,
                                      args=(shard, taskset, out, worker_config, end, threads, plan))
            process.start()
            processes.append(process)
    store, seen = RecordStore(records_dir(out)), set()
    while any(p.is_alive() for p in processes):
        time.sleep(0.5)
        for task_id, record in store.load_all().items():
            if task_id not in seen and task_id in {t.id for t in todo}:
                seen.add(task_id)
                emit("done", task_id=task_id, record=record)
    for process in processes:
        process.join()
        if process.exitcode:
            emit("worker_failed", exitcode=process.exitcode)


def _worker(shard: list[Task], taskset: TaskSet, out: Path, config: SolveConfig, end: float | None,
            threads: int, plan: Mapping[str, TaskWork] | None = None) -> None:
    """One worker process: its shard of the tasks, against the run's common end time."""
    torch.set_num_threads(threads)
    deadline = Deadline(None if end is None else max(0.0, end - time.monotonic()))
    base = checkpoint.load_any(config.checkpoint) if config.checkpoint else None
    store = RecordStore(records_dir(out))
    _solve_tasks(shard, taskset, out, store, config, deadline, lambda *a, **k: None, base, plan)


def _fallback_record(task: Task, status: str, reason: str, config: SolveConfig) -> dict:
    attempts = [(submission.fallback_grid(g),) * 2 for g in task.test_inputs]
    record = make_record(task.id, attempts, [[] for _ in task.test_inputs], {}, to_dict(config), status)
    record["reason"] = reason
    return record


def _solve_or_fail(group: list[Task], config: SolveConfig, seconds: float, device: torch.device, emit: Event,
                   base: TRM | None = None) -> list[dict]:
    """Solve a group; out of memory retries with half the augmentations, any other error gives fallbacks (a
    group that fails has its tasks solved alone, so one broken task never costs the others their answers)."""
    attempt_config, end, name = config, time.monotonic() + seconds, group_name(group)
    for _ in range(3):
        try:
            return solve_group(group, attempt_config, end - time.monotonic(), device, emit, base)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            smaller = max(1, attempt_config.ttt.augmentations // 2)
            attempt_config = _with_ttt(attempt_config, augmentations=smaller,
                                       batch_size=max(1, attempt_config.ttt.batch_size // 2))
            emit("retry", task_id=name, reason="out of memory", augmentations=smaller)
        except OutOfTime as err:
            return [_fallback_record(task, "skipped", f"out of time: {err}", config) for task in group]
        except Exception as err:  # one broken task never costs the others their answers
            if len(group) == 1:
                return [_fallback_record(group[0], "failed", f"{type(err).__name__}: {err}", config)]
            emit("retry", task_id=name, reason=f"{type(err).__name__}: {err}; each task alone")
            return _solve_alone(group, config, end, device, emit, base)
    return [_fallback_record(task, "failed", "out of memory at the smallest size", config) for task in group]


def _solve_alone(group: list[Task], config: SolveConfig, end: float, device: torch.device, emit: Event,
                 base: TRM | None) -> list[dict]:
    """The tasks of a failed group one by one, sharing the group's remaining time equally."""
    records = []
    for i, task in enumerate(group):
        seconds = (end - time.monotonic()) / (len(group) - i)
        records += _solve_or_fail([task], config, seconds, device, emit, base) if seconds > 0 else \
            [_fallback_record(task, "skipped", "out of time", config)]
    return records


def _with_ttt(config: SolveConfig, **changes: Any) -> SolveConfig:
    return dataclasses.replace(config, ttt=dataclasses.replace(config.ttt, **changes))


class OutOfTime(Exception):
    """Not even the smallest rollout (and one training step) fits in the time a task has."""


def solve_task(task: Task, config: SolveConfig, seconds: float, device: torch.device, emit: Event,
               base: TRM | None = None) -> dict:
    """Train on the task's augmented demonstrations, then roll out and vote, all within `seconds`."""
    return solve_group([task], config, seconds, device, emit, base)[0]


def solve_group(group: list[Task], config: SolveConfig, seconds: float, device: torch.device, emit: Event,
                base: TRM | None = None) -> list[dict]:
    """Train one model on the group's augmented demonstrations (each task's versions their own puzzle rows, a
    batch of each task per step), then roll out and vote per task, all within `seconds`; a record per task.

    The rollout's cost is measured before training (one supervision step on a few test rows); it keeps as
    many augmented versions as fit in `predict_share` of the slice (at least one, else OutOfTime), and
    training stops early enough for it, never starting a step that would not end in time.
    """
    start = time.monotonic()
    end = start + seconds
    c, name = config.ttt, group_name(group)
    canvas = max(ttt.task_canvas(task, c.translate) for task in group)
    parts = _encode(group, config, canvas)
    num_versions = sum(len(part.augs) for part in parts)
    model = ttt.from_pretrained(base, num_versions, device) if base is not None else \
        ttt.new_model(config.model, num_versions, device, seed=config.seed)
    trainer = ttt.Trainer(model, c)
    per_row = predict.time_step(model, parts[0])  # one eval supervision step of one test input in one version
    per_version = per_row * sum(p.test_per_version for p in parts) * model.config.N_sup * SAFETY  # all tasks
    batch = ttt.batch_size(c, canvas)
    step_time = per_row * batch * len(parts) * TRAIN_STEP_FACTOR  # a guess until the first step is measured
    left = end - time.monotonic()
    versions = min(min(len(p.augs) for p in parts),
                   int(min(config.predict_share * left, left - step_time * SAFETY) / per_version))
    if versions < 1:
        raise OutOfTime(f"a rollout and a training step need {per_version + step_time:.1f} s, {left:.1f} s left")
    train_until = end - versions * per_version
    emit("phase", task_id=name, phase="train", canvas=canvas, versions=num_versions)
    metrics: dict[str, float] = {}
    while trainer.steps < c.max_steps and time.monotonic() + step_time * SAFETY < train_until:
        began = time.monotonic()
        metrics = trainer.step(ttt.sample_joint(parts, batch))
        step_time = time.monotonic() - began if trainer.steps == 1 else max(step_time, time.monotonic() - began)
        if trainer.steps % 25 == 0:
            emit("progress", task_id=name, step=trainer.steps, **metrics)
    trained = time.monotonic()
    emit("phase", task_id=name, phase="predict", versions=versions)
    with trainer.ema.swapped_in(model) if trainer.ema else nullcontext():
        candidates = [predict.rollout(model, part, config.rollout_batch, versions) for part in parts]
    timings = {"train": trained - start, "predict": time.monotonic() - trained, "total": time.monotonic() - start}
    records = [_record(task, cs, config, timings) for task, cs in zip(group, candidates)]
    for record, part in zip(records, parts):
        record.update(steps=trainer.steps, canvas=canvas, versions=len(part.augs), voted_versions=versions,
                      device=str(device), train_metrics=metrics)
        if len(group) > 1:
            record["group"] = [task.id for task in group]
    return records


def _encode(group: list[Task], config: SolveConfig, canvas: int) -> list[ttt.TaskData]:
    """Each task's augmented versions on the group's canvas, puzzle ids numbered on from the previous task's."""
    c, parts, first_id = config.ttt, [], 1
    for task in group:
        augs = augment.plan(task, c.augmentations, config.seed, c.permute_background, c.translate, c.dihedral)
        parts.append(ttt.task_data(task, augs, canvas, seed=config.seed, first_id=first_id))
        first_id += len(augs)
    return parts


def _record(task: Task, candidates: list, config: SolveConfig, timings: dict[str, float]) -> dict:
    """A task's record from its rollout candidates: voted attempts (fallbacks where nothing was predicted)."""
    ranked = [vote.vote(cs, config.vote) for cs in candidates]
    attempts = [vote.top2(r, submission.fallback_grid(g)) for r, g in zip(ranked, task.test_inputs)]
    top = [[{"grid": r.grid, "votes": r.votes, "mean_confidence": r.mean_confidence} for r in rs[:5]]
           for rs in ranked]
    status = "predicted" if all(rs for rs in ranked) else "fallback"
    return make_record(task.id, attempts, top, timings, to_dict(config), status)
