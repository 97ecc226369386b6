"""What the Kaggle notebook runs once arc-trm is installed: the baked dataset's config and checkpoint, the
challenges, one worker per GPU (the CPU when there is none), and `solve` within what is left of the budget,
which plans the run as `arc-trm solve --time-budget` does (`arc_trm.solve.schedule`), with printed progress.

    submit(DATASET, CHALLENGES, OUT, budget=BUDGET - (time.time() - START))

The notebook calls it inside try/except, so that a failure here never costs the pre-filled submission.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from arc_trm.core import devices, events, tasks
from arc_trm.core.config import load_config
from arc_trm.kaggle.notebook import MARKER
from arc_trm.model import TRM, checkpoint
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.run import SolveReport, solve
from arc_trm.solve.schedule import CostModel

WORKERS_ENV = "ARC_TRM_KAGGLE_WORKERS"  # overrides one worker per GPU (rehearsals: several on the CPU)


def load(dataset: str | Path) -> tuple[SolveConfig, TRM | None]:
    """The config the dataset was built with, and its checkpoint (None when it has none), from the dataset."""
    dataset = Path(dataset)
    baked = json.loads((dataset / MARKER).read_text())
    config = load_config(SolveConfig, dataset / baked["config"])
    if not baked["checkpoint"]:
        return config, None
    config.checkpoint = str(dataset / baked["checkpoint"])
    return config, checkpoint.load_for_solve(config.checkpoint)


def workers_for(config: SolveConfig) -> int:
    """ARC_TRM_KAGGLE_WORKERS, else one worker per GPU that `config.device` may use, else one."""
    return int(os.environ.get(WORKERS_ENV) or max(1, devices.gpu_count(config.device)))


def submit(
    dataset: str | Path,
    challenges: str | Path,
    out: str | Path,
    budget: float,
    cost: CostModel | None = None,
    log: Callable[[str], None] = print,
) -> SolveReport:
    """Solve the challenges into the submission `out` within `budget` seconds from now with the dataset's config
    and checkpoint; `cost` replaces the step times measured on the first device (rehearsals)."""
    start = time.monotonic()
    config, base = load(dataset)
    taskset = tasks.load(challenges)
    for problem in taskset.problems:
        log(f"input problem: {problem}")
    workers = workers_for(config)
    log(f"{len(taskset)} tasks, {workers} worker(s) on {'GPU' if devices.gpu_count(config.device) else 'CPU'}")
    report = solve(
        taskset,
        out,
        config,
        budget_seconds=budget,
        on_event=_printer(start, log),
        base=base,
        workers=workers,
        started=start,
        cost=cost,
    )
    log(
        f"solved {len(report.results)} tasks: {report.count('predicted')} predicted, {report.count('skipped')} "
        f"skipped, {report.count('failed')} failed in {report.seconds:.0f}s"
    )
    return report


def _printer(start: float, log: Callable[[str], None]) -> events.Listener:
    """The notebook's progress: the plan, each finished task, a failed worker, the hard stop."""

    def show(event: events.Event) -> None:
        match event:
            case events.Planned():
                log(event.summary)
            case events.Warned():
                log(event.text)
            case events.TaskDone(record=record):
                log(
                    f"{time.monotonic() - start:8.0f}s {event.task_id}: {record['status']} steps "
                    f"{record.get('steps', 0)}" + (f" ({record['reason']})" if record.get("reason") else "")
                )
            case events.WorkerFailed() | events.Stopped():
                log(str(event))

    return show
