"""`solve`: per-task test-time training and voting over a whole task set, under a runtime budget, resumable.

    report = solve(taskset, "submission.json", load_config(SolveConfig, "configs/cpu.yaml"), budget_seconds=600)

The run's guarantees (docs/solving.md says more):
- The submission is written, complete and valid (fallbacks where nothing better exists), before any work
  starts and again after every task; each finished task's record is saved beside it
  (`submission.json.records/`). Every task id of the input is in it, readable or not.
- Resume by status: the same call again keeps the records that have an answer (or that no rerun can change),
  retries those skipped for time or failed, and redoes those saved under another config; a retry that ends
  without an answer keeps the earlier answer.
- Workers claim tasks one at a time from a queue shared through the records folder (arc_trm.solve.claims): a worker
  that dies or hangs loses only the task it holds, which another takes over. Under torchrun every rank, on
  every node, works from the same queue.
- With a budget, the run is planned first (`arc_trm.solve.schedule`: step times measured on the first device
  in a process of its own, then each task's versions, steps and seconds; saved as records/run/plan.json, and
  kept by a resumed run), the workers (even a single one) run in their own processes, and this one kills them
  STOP_MARGIN seconds before the budget's end and writes the submission from the saved records.
Input problems go to `submission.problems.json`. Solving one task (or a group) within its slice of time is
`arc_trm.solve.task`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import torch

from arc_trm.core import devices, events, submission
from arc_trm.core.config import to_dict
from arc_trm.core.durations import Deadline
from arc_trm.core.events import Listener
from arc_trm.core.io import write_json
from arc_trm.core.tasks import Task, TaskSet
from arc_trm.data import task_encoding
from arc_trm.model import TRM, checkpoint
from arc_trm.solve import schedule
from arc_trm.solve.claims import HOST, ClaimQueue, clear_claims, run_id
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.records import RecordStore, Status, attempts_of, problems_path, records_dir
from arc_trm.solve.schedule import (
    STOP_MARGIN,
    BudgetPlanner,
    CostModel,
    TaskWork,
    config_for,
    task_costs,
)
from arc_trm.solve.task import fallback_record, group_name, solve_or_fail


@dataclass
class TaskResult:
    """What solving one task produced: its record (as saved) and the attempts per test input."""

    task_id: str
    status: str  # predicted, fallback, failed, skipped
    record: dict[str, Any]


@dataclass
class SolveReport:
    """The whole run: results per task (resumed ones included), counts, and where things were written.

    `resumed`: tasks whose saved record was kept; `retried`: tasks redone because their saved record had no
    answer a rerun could not change (reason -> count); `redone`: tasks whose saved record was made with
    another config; `stopped`: the hard deadline stopped the workers."""

    out: Path
    results: list[TaskResult]
    resumed: int
    problems: int
    seconds: float
    retried: dict[str, int] = field(default_factory=dict)
    redone: int = 0
    stopped: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def resume_line(self) -> str:
        """What the run took over from saved records, and why it redid the rest."""
        retried = ", ".join(f"{n} {reason}" for reason, n in sorted(self.retried.items()))
        return (
            f"{self.resumed} resumed, {sum(self.retried.values())} retried"
            + (f" ({retried})" if retried else "")
            + f", {self.redone} redone (saved under another config)"
        )


NOTHING_TO_SOLVE = "no valid demonstration or test input"  # a skip that no rerun can change
DROPPED = "dropped by the plan"  # a skip that only another plan (so another asked config) changes


def solve(
    taskset: TaskSet,
    out: str | Path,
    config: SolveConfig,
    budget_seconds: float | None = None,
    fresh: bool = False,
    on_event: Listener | None = None,
    base: TRM | None = None,
    workers: int = 1,
    plan: Mapping[str, TaskWork] | None = None,
    started: float | None = None,
    cost: CostModel | None = None,
) -> SolveReport:
    """Solve every task of `taskset` into the submission `out`; see the module docstring.

    `base` is a pretrained model to start each task from (else `config.checkpoint` is loaded, if set).
    `workers` processes claim the tasks one at a time from a shared queue (one per GPU when there are GPUs);
    with a budget, even one worker runs in its own process, so that the budget is enforced from outside.
    With a budget and no `plan`, the run plans itself (`arc_trm.solve.schedule.plan_run`, with `cost`, by
    default measured on the first device); a `plan` given (every task named) replaces it. The plan gives each
    task its versions, steps and share of the time (steps 0: fallback), and its order. `started` (a
    `time.monotonic()` reading) is when the budget began: the command's start.
    """
    emit = on_event or events.ignore
    deadline = Deadline(budget_seconds, start=started)
    out = Path(out)
    store = RecordStore(records_dir(out))
    if fresh:
        store.clear()
    records = _write_submission(taskset, store, out)
    problems = taskset.problems + store.problems  # unreadable saved records are redone, and reported
    write_json([p.__dict__ for p in problems], problems_path(out), indent=1)
    if budget_seconds is not None and plan is None:
        plan = _plan(taskset, out, config, deadline, workers, base, cost, fresh, emit)
    kinds = {tid: resume_kind(rec, config_for(config, plan, [tid])) for tid, rec in records.items()}
    retried = Counter(kind.value for kind in kinds.values() if kind.retried)
    redone = sum(kind is Resume.REDO for kind in kinds.values())
    todo = [t for t in _ordered(taskset, plan) if kinds.get(t.id) is not Resume.DONE]
    emit(events.Started(len(taskset), len(taskset) - len(todo), len(taskset.problems), dict(retried), redone))
    units = groups(todo, config.group_tasks, config.ttt.translate)
    run, stopped, alone = run_id(_state(todo, store)), False, not _under_torchrun()
    if alone:
        clear_claims(records_dir(out), keep=run)  # an earlier run's, killed before it could clean up
    if units and (workers > 1 or budget_seconds is not None or _under_torchrun()):
        stopped = _supervise(units, taskset, out, config, deadline, workers, emit, plan, run)
    elif units:
        if base is None and config.checkpoint:
            base = checkpoint.load_for_solve(config.checkpoint)
        queue = ClaimQueue(records_dir(out), run)
        _work(units, taskset, out, config, deadline, emit, base, plan, queue, workers=1)
    if alone:
        clear_claims(records_dir(out))  # the queue is only needed while the run lasts
    records = _write_submission(taskset, store, out)
    results = [TaskResult(t.id, records[t.id]["status"], records[t.id]) for t in taskset if t.id in records]
    return SolveReport(
        out,
        results,
        len(taskset) - len(todo),
        len(taskset.problems),
        deadline.elapsed(),
        dict(retried),
        redone,
        stopped,
    )


def _plan(
    taskset: TaskSet,
    out: Path,
    config: SolveConfig,
    deadline: Deadline,
    workers: int,
    base: TRM | None,
    cost: CostModel | None,
    fresh: bool,
    emit: Listener,
) -> dict[str, TaskWork] | None:
    """A budgeted run's plan, for the model the tasks start from, over every process on the queue, with step
    times measured on this rank's first device; reported, and saved in the records folder."""
    model = (
        base.config
        if base is not None
        else checkpoint.load_for_solve(config.checkpoint).config
        if config.checkpoint
        else config.model
    )
    device = str(devices.resolve(config.device, int(os.environ.get("LOCAL_RANK", "0")) * workers))
    the_plan, kept = schedule.plan_run(
        taskset,
        dataclasses.replace(config, model=model),
        _sharing(workers),
        deadline.remaining(),
        records_dir(out),
        device,
        cost,
        reuse=not fresh,
    )
    if the_plan is None:
        emit(
            events.Warned(
                f"no plan: measuring the step times took more than {schedule.MEASURE_SHARE:.0%} of the "
                "budget; every task gets an equal share of the time"
            )
        )
        return None
    emit(events.Planned(the_plan.summary(), str(records_dir(out) / schedule.PLAN_FILE), kept))
    return the_plan.work


class Resume(str, Enum):
    """What a saved record means for a rerun asked the same: kept, retried (and why), or redone."""

    DONE = "done"  # kept: it predicted, or ran to its end without a decodable answer, or has nothing to solve,
    # or the same plan dropped it
    OUT_OF_TIME = "out of time"  # retried: it was skipped for time
    FAILED = "failed"  # retried: it failed (the same command tries again)
    REDO = "redo"  # redone: it was made with another config

    @property
    def retried(self) -> bool:
        return self in (Resume.OUT_OF_TIME, Resume.FAILED)


def resume_kind(record: dict, asked: SolveConfig) -> Resume:
    """What a saved record means for a rerun asked to do `asked` (see Resume)."""
    if not _same_work(record.get("config", {}), asked):
        return Resume.REDO
    if record["status"] in (Status.PREDICTED, Status.FALLBACK) or record.get("reason") in (NOTHING_TO_SOLVE, DROPPED):
        return Resume.DONE
    return Resume.OUT_OF_TIME if str(record.get("reason", "")).startswith("out of time") else Resume.FAILED


def _same_work(saved: dict, config: SolveConfig) -> bool:
    """Whether a saved record was asked for this config (the device aside: workers each have their own)."""
    ignore = {"device"}
    current = to_dict(config)
    return {k: v for k, v in saved.items() if k not in ignore} == {k: v for k, v in current.items() if k not in ignore}


def _ordered(taskset: TaskSet, plan: Mapping[str, TaskWork] | None) -> list[Task]:
    """The tasks in the plan's order (costliest first), else as given."""
    if not plan:
        return list(taskset)
    rank = {tid: i for i, tid in enumerate(plan)}
    return sorted(taskset, key=lambda t: rank.get(t.id, len(rank)))


def _state(todo: list[Task], store: RecordStore) -> str:
    """A digest of the work to do as found: the tasks and when each one's record was last saved."""

    def saved(task: Task) -> int:
        path = store.path(task.id)
        return path.stat().st_mtime_ns if path.exists() else 0

    return hashlib.sha1("\n".join(f"{t.id}:{saved(t)}" for t in todo).encode()).hexdigest()[:12]


def _under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ and "RANK" in os.environ


def _sharing(workers: int) -> int:
    """The processes on the run's queue: this rank's workers times the ranks (all nodes together)."""
    return workers * int(os.environ.get("WORLD_SIZE", "1"))


# ---------------------------------------------------------------------------------------------- workers


def _work(
    units: list[list[Task]],
    taskset: TaskSet,
    out: Path,
    config: SolveConfig,
    deadline: Deadline,
    emit: Listener,
    base: TRM | None,
    plan: Mapping[str, TaskWork] | None,
    queue: ClaimQueue,
    workers: int,
) -> None:
    """Claim units (a task, or a group trained together) one at a time until none is left or time is up;
    save each unit's records, then mark it done. `workers`: how many processes share the queue (the time a
    task may take is its share of what all of them have left)."""
    store = RecordStore(records_dir(out))
    cap = config.task_seconds if deadline.budget is None else None
    todo = [task for unit in units for task in unit]
    planner = BudgetPlanner(
        task_costs(todo, plan),
        None if deadline.budget is None else deadline.remaining(),
        per_task_cap=cap,
        workers=workers,
    )
    device = devices.resolve(config.device)
    names = {group_name(unit): unit for unit in units}
    with queue.heartbeat():
        while deadline.remaining() > 0:
            for finished in set(names) - set(queue.pending(names)):  # finished by any worker: time goes to the rest
                for task in names[finished]:
                    planner.done(task.id)
            name = queue.claim_next(names)
            if name is None:
                if not queue.pending(names):
                    return
                time.sleep(1.0)  # the rest is held by other workers: wait, and take over any that stall
                continue
            for record in _solve_unit(names[name], taskset, config, deadline, planner, device, emit, base, plan):
                planner.done(record["task_id"])
                _save(store, {**record, "solved_by": f"{HOST}:{os.getpid()}"})
                emit(events.TaskDone(record["task_id"], record))
            queue.finish(name)
            _write_submission(taskset, store, out)


def _solve_unit(
    group: list[Task],
    taskset: TaskSet,
    config: SolveConfig,
    deadline: Deadline,
    planner: BudgetPlanner,
    device: torch.device,
    emit: Listener,
    base: TRM | None,
    plan: Mapping[str, TaskWork] | None,
) -> list[dict]:
    """The records of one unit: solved in its slice of the time, or skipped."""
    asked = config_for(config, plan, [t.id for t in group])
    name = group_name(group)
    seconds = math.fsum(planner.slice_for(task.id, deadline.remaining()) for task in group)
    emit(events.TaskStarted(name, seconds))
    if not all(task.solvable for task in group):
        return [fallback_record(task, Status.SKIPPED, NOTHING_TO_SOLVE, asked) for task in group]
    if asked.ttt.max_steps == 0:
        return [fallback_record(task, Status.SKIPPED, DROPPED, asked) for task in group]
    if seconds < config.min_task_seconds:
        return [fallback_record(task, Status.SKIPPED, "out of time", asked) for task in group]
    return solve_or_fail(group, asked, seconds, device, emit, base)


def _save(store: RecordStore, record: dict) -> None:
    """Save a record; one without an answer keeps the attempts of an earlier record that had one (a retry
    that ran out of time again never costs the submission an answer it had)."""
    old = store.load(record["task_id"])
    if record["status"] != Status.PREDICTED and old is not None and old["status"] == Status.PREDICTED:
        record = {
            **record,
            "attempts": old["attempts"],
            "candidates": old["candidates"],
            "kept": "the attempts of an earlier run that predicted",
        }
    store.save(record)


def _supervise(
    units: list[list[Task]],
    taskset: TaskSet,
    out: Path,
    config: SolveConfig,
    deadline: Deadline,
    workers: int,
    emit: Listener,
    plan: Mapping[str, TaskWork] | None,
    run: str,
) -> bool:
    """Run `workers` worker processes over the run's shared queue; report records as they land; at the hard
    deadline (the budget less STOP_MARGIN) kill them all. True when the deadline stopped them."""
    rank = int(os.environ.get("LOCAL_RANK", "0"))  # under torchrun: this node's ranks share its cores and GPUs
    threads = max(1, devices.cores() // (workers * int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    sharing = _sharing(workers)
    end = time.monotonic() + deadline.remaining() if deadline.budget is not None else None
    context = multiprocessing.get_context("spawn")
    processes = []
    for i in range(workers):
        device = str(devices.resolve(config.device, rank * workers + i))
        process = context.Process(
            target=_worker,
            args=(units, taskset, out, dataclasses.replace(config, device=device), end, threads, plan, run, sharing),
            daemon=True,
        )
        process.start()
        processes.append(process)
    queue, store, stopped = ClaimQueue(records_dir(out), run), RecordStore(records_dir(out)), False
    seen: set[str] = set()  # the units reported done
    while any([p.is_alive() for p in processes]):
        time.sleep(0.2)
        _report_new(units, queue, store, seen, emit)
        if deadline.budget is not None and deadline.remaining() <= STOP_MARGIN:
            for process in processes:
                process.kill()
            stopped = True
            emit(events.Stopped(STOP_MARGIN))
            break
    for process in processes:
        process.join()
        if process.exitcode and not stopped:
            emit(events.WorkerFailed(process.exitcode))
    _report_new(units, queue, store, seen, emit)
    return stopped


def _report_new(units: list[list[Task]], queue: ClaimQueue, store: RecordStore, seen: set, emit: Listener) -> None:
    """Emit "done" for each task of the units finished since the last call."""
    for unit in units:
        name = group_name(unit)
        if name not in seen and queue.is_done(name):
            seen.add(name)
            for task in unit:
                record = store.load(task.id)
                if record is not None:
                    emit(events.TaskDone(task.id, record))


WORKER_NAME = "arc-trm worker"  # the worker processes' name in ps and /proc/PID/comm (Linux)


def _name_process(name: str) -> None:
    """Name this process for `ps` (Linux; elsewhere nothing): tells the workers from a step-timing process."""
    try:
        Path("/proc/self/comm").write_text(name[:15])
    except OSError:
        pass


def _worker(
    units: list[list[Task]],
    taskset: TaskSet,
    out: Path,
    config: SolveConfig,
    end: float | None,
    threads: int,
    plan: Mapping[str, TaskWork] | None,
    run: str,
    sharing: int,
) -> None:
    """One worker process: claims units from the run's queue until none is left or the common end time."""
    _name_process(WORKER_NAME)
    torch.set_num_threads(threads)
    deadline = Deadline(None if end is None else max(0.0, end - time.monotonic()))
    base = checkpoint.load_for_solve(config.checkpoint) if config.checkpoint else None
    queue = ClaimQueue(records_dir(out), run)
    _work(units, taskset, out, config, deadline, events.ignore, base, plan, queue, sharing)


def groups(todo: list[Task], size: int, translate: int = 0) -> list[list[Task]]:
    """The tasks in groups of at most `size` to train jointly: tasks with something to solve sorted by canvas,
    so that a group's members share one canvas with little padding; the others alone. Size 1: `todo`'s order."""
    if size <= 1:
        return [[task] for task in todo]
    solvable = sorted((t for t in todo if t.solvable), key=lambda t: task_encoding.task_canvas(t, translate))
    return [solvable[i : i + size] for i in range(0, len(solvable), size)] + [
        [task] for task in todo if not task.solvable
    ]


def _write_submission(taskset: TaskSet, store: RecordStore, out: Path) -> dict[str, dict]:
    """Write the complete submission from every saved record (other workers' too); returns those records."""
    records = {tid: rec for tid, rec in store.load_all().items() if tid in set(taskset.ids)}
    attempts = {tid: attempts_of(rec) for tid, rec in records.items() if rec.get("attempts")}
    submission.write(submission.build(taskset, attempts), out)
    return records
