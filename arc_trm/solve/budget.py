"""The wall-clock planner for a runtime limit: durations, a deadline, and a per-task time plan.

`--time-budget 12h` bounds the whole run, writing included. A `Deadline` measures the run against it; a
`BudgetPlanner` divides what is left over the tasks still to do, in proportion to their cost (bigger canvas,
more demonstrations: more time), keeping a reserve for writing the submission at the end. Slices are computed
afresh each time a task starts, so time saved by tasks that finished early goes to those still waiting, and a
task whose slice is below the least useful work is not started (the caller writes its fallback instead).

If every task uses at most the slice it was given when it started, the run ends before budget - reserve:
each slice is that task's share of what remains, so what remains always covers the other tasks' shares.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping

from arc_trm.core.tasks import Task

# Rolling out one test input (every augmented version, N_sup supervision steps, forward only) costs about this
# fraction of training on one demonstration pair during test-time training.
ROLLOUT_SHARE = 0.25

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_DURATION = re.compile(rf"(?:({_NUMBER})h)?(?:({_NUMBER})m)?(?:({_NUMBER})s)?")

# ---------------------------------------------------------------------------------------------- durations


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "90s", "45m", "12h", "1h30m", "2h15m30s", "1.5h" or "3600" (seconds).

    ValueError, naming the text and the accepted forms, for anything else or a duration that is not positive.
    """
    clean = str(text).strip().lower().replace(" ", "")
    if clean.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    if re.fullmatch(_NUMBER, clean):
        seconds = float(clean)
    else:
        match = _DURATION.fullmatch(clean)
        if not clean or not match:
            raise ValueError(
                f"invalid duration {text!r}: use hours, minutes and seconds such as 90s, 45m, 12h, 1h30m, "
                "1.5h, or a plain number of seconds"
            )
        seconds = sum(float(v) * _UNITS[u] for v, u in zip(match.groups(), "hms") if v is not None)
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """A short display form: "45s", "3m05s", "1h02m" (whole seconds; "unlimited" for infinity)."""
    if math.isinf(seconds):
        return "unlimited"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


# ---------------------------------------------------------------------------------------------- deadline


class Deadline:
    """A time budget that starts when created, or at `start` (a reading of `clock`, e.g. the command's start):
    `Deadline(12 * 3600)`, or `Deadline(None)` for no limit.

    `clock` returns seconds (default `time.monotonic`); tests pass a fake one.
    """

    def __init__(self, budget: float | None, clock: Callable[[], float] = time.monotonic,
                 start: float | None = None) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"budget must be >= 0 seconds or None, got {budget}")
        self.budget = budget
        self.clock = clock
        self.start = clock() if start is None else start

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self.clock() - self.start

    def remaining(self) -> float:
        """Seconds left (never negative); infinity when unlimited."""
        if self.budget is None:
            return math.inf
        return max(0.0, self.budget - self.elapsed())

    def expired(self) -> bool:
        """True once the budget is spent (never when unlimited)."""
        return self.remaining() <= 0

    def at(self, fraction: float) -> bool:
        """True once `fraction` of the budget has passed (`at(0.9)`: the last tenth); never when unlimited."""
        return self.budget is not None and self.elapsed() >= fraction * self.budget

    def __repr__(self) -> str:
        budget = "unlimited" if self.budget is None else format_duration(self.budget)
        return f"<Deadline {budget} | {format_duration(self.elapsed())} elapsed>"


# ---------------------------------------------------------------------------------------------- planning


def task_cost(task: Task, translate: int = 0) -> float:
    """Relative cost of test-time training on a task (units: canvas tokens x examples).

    Model: the FLOPs of one supervision step grow with the tokens per example, task_canvas**2 (linearly for the
    MLP and projections, which dominate on small canvases), and an epoch over the augmented demonstrations has
    as many examples as there are demonstration pairs (counted as at least 1). Rolling out each readable test
    input adds ROLLOUT_SHARE of one demonstration's training. A task with nothing to work on costs 0.
    """
    from arc_trm.data.task_encoding import task_canvas  # here: parsing a duration must not import torch

    if not task.solvable:
        return 0.0
    tokens = task_canvas(task, translate) ** 2
    tests = sum(grid is not None for grid in task.test_inputs)
    return float(tokens * (max(1, len(task.train)) + ROLLOUT_SHARE * tests))


STOP_MARGIN = 3.0  # seconds before the budget's end at which the supervisor kills the workers and writes the
# submission from the saved records (measured: benchmarks/results/hard_stop.json)


def default_reserve(budget: float | None) -> float:
    """Seconds kept back at the end for writing the submission: max(5 s, 2% of the budget); 0 when unlimited."""
    return 0.0 if budget is None else max(5.0, 0.02 * budget)


class BudgetPlanner:
    """Divides the remaining time over the tasks not yet done, in proportion to their cost.

    `budget` is the whole run's seconds (None: unlimited), `reserve` the seconds kept back at the end (default
    `default_reserve(budget)`), `per_task_cap` the most seconds any one task may use (None: no cap). `costs`
    replaces `task_cost` for the tasks it names (e.g. a whole-run plan's predicted seconds). `workers`
    processes share the tasks (a shared queue), so the time left is theirs together. Task ids must be unique.
    """

    def __init__(
        self,
        tasks: Iterable[Task],
        budget: float | None,
        reserve: float | None = None,
        per_task_cap: float | None = None,
        translate: int = 0,
        costs: Mapping[str, float] | None = None,
        workers: int = 1,
    ) -> None:
        given = costs or {}
        self.costs = {task.id: given[task.id] if task.id in given else task_cost(task, translate) for task in tasks}
        self.budget = budget
        self.reserve = default_reserve(budget) if reserve is None else reserve
        self.per_task_cap = per_task_cap
        self.finished: set[str] = set()
        self.workers = workers

    @property
    def pending(self) -> list[str]:
        """Ids of the tasks not yet done, in plan order."""
        return [task_id for task_id in self.costs if task_id not in self.finished]

    def done(self, task_id: str) -> None:
        """Mark a task finished (solved, skipped or failed): its share goes to the others."""
        self._cost(task_id)
        self.finished.add(task_id)

    def slice_for(self, task_id: str, remaining_seconds: float) -> float:
        """Seconds this task may use now: its cost share among the tasks not yet done (itself included) of
        `remaining_seconds` minus the reserve, at most the per-task cap. Unlimited budget: the cap, or inf.
        A task with nothing to work on (cost 0) gets 0."""
        cost = self._cost(task_id)
        cap = math.inf if self.per_task_cap is None else self.per_task_cap
        if cost <= 0:
            return 0.0
        if self.budget is None or math.isinf(remaining_seconds):
            return cap
        waiting = math.fsum(self.costs[t] for t in self.pending if t != task_id) + cost
        usable = max(0.0, remaining_seconds - self.reserve)
        return min(usable * self.workers * cost / waiting, usable, cap)

    def can_start(self, task_id: str, remaining_seconds: float, min_seconds: float) -> bool:
        """Whether the task's slice now covers `min_seconds`, the least work worth starting on it."""
        return self.slice_for(task_id, remaining_seconds) >= min_seconds

    def _cost(self, task_id: str) -> float:
        try:
            return self.costs[task_id]
        except KeyError:
            raise KeyError(f"task {task_id!r} is not in this plan") from None

    def __repr__(self) -> str:
        budget = "unlimited" if self.budget is None else format_duration(self.budget)
        return f"<BudgetPlanner {len(self.pending)}/{len(self.costs)} pending | {budget} budget>"
