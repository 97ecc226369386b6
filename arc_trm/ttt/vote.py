"""Voting: turn the predictions made under many augmentations into two ranked attempts.

Each candidate is a grid predicted for an augmented version of a test input, with the model's halting
confidence sigmoid(q_halt). Voting maps every grid back to the original frame, groups identical grids and
ranks the groups as the official TRM evaluator does: most votes first, then the highest mean confidence.
Exact ties go to the grid seen first, so the result depends only on the order of the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from arc_trm.data.augment import Aug

POLICIES = ("count_then_confidence", "count")


@dataclass(frozen=True)
class Candidate:
    """One prediction: the grid in the augmented frame (None when undecodable) and its confidence."""

    aug: Aug
    grid: np.ndarray | None
    confidence: float


@dataclass
class Ranked:
    """A distinct grid in the original frame, with the votes it received and their mean confidence."""

    grid: np.ndarray
    votes: int
    mean_confidence: float
    first_seen: int  # index of the first candidate that produced this grid


def vote(candidates: Iterable[Candidate], policy: str = "count_then_confidence") -> list[Ranked]:
    """Distinct de-augmented grids, best first; candidates without a grid are skipped.

    Policies: "count_then_confidence" (the official rule: votes, then mean confidence) and "count" (votes
    only). Remaining ties are broken by first appearance in `candidates`.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown voting policy {policy!r}; known: {', '.join(POLICIES)}")
    groups = _group(candidates)
    if policy == "count":
        return sorted(groups, key=lambda r: (-r.votes, r.first_seen))
    return sorted(groups, key=lambda r: (-r.votes, -r.mean_confidence, r.first_seen))


def _group(candidates: Iterable[Candidate]) -> list[Ranked]:
    """One Ranked per distinct grid (same shape and cells), in order of first appearance."""
    seen: dict[tuple, tuple[np.ndarray, int, list[float]]] = {}
    for index, candidate in enumerate(candidates):
        if candidate.grid is None:
            continue
        grid = np.ascontiguousarray(candidate.aug.invert(candidate.grid), dtype=np.uint8)
        _, _, confidences = seen.setdefault((grid.shape, grid.tobytes()), (grid, index, []))
        confidences.append(float(candidate.confidence))
    # fsum is exactly rounded, so a mean does not depend on the order its votes came in
    return [Ranked(grid, len(qs), math.fsum(qs) / len(qs), first) for grid, first, qs in seen.values()]


def top2(ranked: list[Ranked], fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(attempt_1, attempt_2): the two best grids; the best twice when there is one, the fallback when none."""
    if not ranked:
        return fallback, fallback
    second = ranked[1] if len(ranked) > 1 else ranked[0]
    return ranked[0].grid, second.grid
