"""What `solve` and pretraining tell their listener as a run goes: a small set of typed events. A listener is any
callable taking one event (the CLI's live display or train printer, the Kaggle notebook's log, a test's list); it
tells them apart by class.

    def listener(event: Event) -> None:
        match event:
            case TaskDone(task_id=task_id, record=record): print(task_id, record["status"])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Started:
    """The run begins: how many tasks, how many kept from saved records, retried (by reason) and redone."""

    tasks: int
    resumed: int
    problems: int
    retried: dict[str, int] = field(default_factory=dict)
    redone: int = 0


@dataclass(frozen=True)
class Planned:
    """A budgeted run's whole-run plan (`arc_trm.solve.schedule`): its summary, where it is saved, and whether
    it was kept from the run this one resumes."""

    summary: str
    path: str
    kept: bool = False


@dataclass(frozen=True)
class TaskStarted:
    """A task (or a group trained together: ids joined by '+') starts with this many seconds."""

    task_id: str
    seconds: float


@dataclass(frozen=True)
class Phase:
    """A task enters training (with its canvas and versions) or the rollout (with the versions voting)."""

    task_id: str
    phase: str  # "train" or "predict"
    versions: int
    canvas: int | None = None


@dataclass(frozen=True)
class Progress:
    """Every 25 training steps: the last step's loss, token accuracy and share of exactly right rows."""

    task_id: str
    step: int
    loss: float
    accuracy: float
    exact: float


@dataclass(frozen=True)
class Retry:
    """A task is tried again: smaller after running out of memory, or a failed group's tasks one by one."""

    task_id: str
    reason: str
    versions: int | None = None


@dataclass(frozen=True)
class TaskDone:
    """A task's record is saved (by this process or a worker)."""

    task_id: str
    record: dict[str, Any]


@dataclass(frozen=True)
class Stopped:
    """The hard deadline stopped the workers, `margin` seconds before the budget's end."""

    margin: float


@dataclass(frozen=True)
class WorkerFailed:
    """A worker process ended with this exit code; its unfinished task is taken over or keeps its fallback."""

    exitcode: int


# ---------------------------------------------------------------- pretraining (`arc_trm.train.pretrain`, `.prior`)


@dataclass(frozen=True)
class TrainStarted:
    """A pretraining run begins: where it runs and its size (the official recipe: its cost model; a prior: its
    tasks, versions and examples per canvas side)."""

    recipe: str  # "official" or "task-canvas"
    device: str
    size: dict[str, Any]


@dataclass(frozen=True)
class Resumed:
    """The run goes on from its saved state at this step (and epoch, in the official recipe)."""

    step: int
    epoch: float | None = None


@dataclass(frozen=True)
class Measured:
    """The first steps' median time (the first step left out) and what it means for the run."""

    seconds_per_step: float
    epoch_seconds: float
    run_seconds: float
    tflops: float


@dataclass(frozen=True)
class Logged:
    """A logging step: its metrics.jsonl record (kind "train")."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Evaluated:
    """An evaluation: its metrics.jsonl record (kind "eval"), and the checkpoint it wrote."""

    record: dict[str, Any]
    checkpoint: str


@dataclass(frozen=True)
class Warned:
    """Something the user should know that does not stop the run."""

    text: str


@dataclass(frozen=True)
class TrainDone:
    """The run ended at this step: finished, or stopped (`--stop-at`) to be continued by the same command."""

    step: int
    finished: bool


Event = (
    Started
    | Planned
    | TaskStarted
    | Phase
    | Progress
    | Retry
    | TaskDone
    | Stopped
    | WorkerFailed
    | TrainStarted
    | Resumed
    | Measured
    | Logged
    | Evaluated
    | Warned
    | TrainDone
)
Listener = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The listener of a run that nobody watches."""
