"""Voting: de-augmentation, grouping, the official ranking rule, deterministic ties, top-2 attempts."""

from __future__ import annotations

import numpy as np
import pytest

from arc_trm.data.augment import IDENTITY, Aug
from arc_trm.ttt.vote import Candidate, top2, vote

RIGHT = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)  # not symmetric, so every Aug moves it
WRONG = np.array([[7, 7, 7], [0, 0, 0]], dtype=np.uint8)
OTHER = np.array([[9]], dtype=np.uint8)
ROT90 = Aug(dihedral=1)
FLIP_AND_COLOURS = Aug(dihedral=4, colours=(0, 2, 1, 4, 3, 6, 5, 8, 7, 9))


def seen_as(aug: Aug, grid: np.ndarray, confidence: float) -> Candidate:
    """A candidate predicting `grid` (original frame) under `aug`, as the model would output it."""
    return Candidate(aug, aug.apply(grid), confidence)


def grids(ranked) -> list[list]:
    return [r.grid.tolist() for r in ranked]


def test_predictions_are_de_augmented_and_grouped():
    rotated = ROT90.apply(RIGHT)
    assert rotated.shape == (3, 2)  # the model answers in the augmented frame
    ranked = vote(
        [
            Candidate(ROT90, rotated, 0.5),
            seen_as(FLIP_AND_COLOURS, RIGHT, 0.7),
            seen_as(IDENTITY, WRONG, 0.9),
        ]
    )
    assert grids(ranked) == [RIGHT.tolist(), WRONG.tolist()]
    assert [r.votes for r in ranked] == [2, 1]
    assert ranked[0].mean_confidence == pytest.approx(0.6)
    assert ranked[0].grid.dtype == np.uint8 and ranked[0].first_seen == 0 and ranked[1].first_seen == 2


def test_votes_beat_confidence():
    candidates = [seen_as(IDENTITY, WRONG, 0.99), seen_as(ROT90, RIGHT, 0.1), seen_as(IDENTITY, RIGHT, 0.1)]
    assert grids(vote(candidates)) == [RIGHT.tolist(), WRONG.tolist()]


def test_equal_votes_broken_by_mean_confidence():
    candidates = [
        seen_as(IDENTITY, WRONG, 0.9),
        seen_as(ROT90, WRONG, 0.1),  # WRONG: mean 0.5
        seen_as(ROT90, RIGHT, 0.6),
        seen_as(FLIP_AND_COLOURS, RIGHT, 0.6),  # RIGHT: mean 0.6
    ]
    assert grids(vote(candidates)) == [RIGHT.tolist(), WRONG.tolist()]


def test_count_policy_ignores_confidence():
    candidates = [seen_as(IDENTITY, WRONG, 0.1), seen_as(ROT90, RIGHT, 0.9), seen_as(ROT90, OTHER, 0.1)]
    candidates += [seen_as(IDENTITY, RIGHT, 0.9), seen_as(FLIP_AND_COLOURS, WRONG, 0.1)]
    assert grids(vote(candidates, policy="count")) == [WRONG.tolist(), RIGHT.tolist(), OTHER.tolist()]
    assert grids(vote(candidates)) == [RIGHT.tolist(), WRONG.tolist(), OTHER.tolist()]


def test_exact_ties_go_to_first_appearance():
    # the same votes and the same multiset of confidences, summed in a different order
    qs = [0.1, 0.2, 0.3]
    for order in ([RIGHT, WRONG, OTHER], [OTHER, RIGHT, WRONG], [WRONG, OTHER, RIGHT]):
        candidates = [seen_as(aug, grid, q) for grid in order for aug, q in zip((IDENTITY, ROT90, ROT90), qs)]
        candidates[3:6] = [seen_as(IDENTITY, order[1], q) for q in reversed(qs)]
        for policy in ("count_then_confidence", "count"):
            assert grids(vote(candidates, policy)) == [g.tolist() for g in order]


def test_same_cells_different_shape_are_different_grids():
    flat = np.array([[1, 2, 3, 4, 5, 6]], dtype=np.uint8)
    ranked = vote([seen_as(IDENTITY, RIGHT, 0.5), seen_as(IDENTITY, flat, 0.5)])
    assert [r.votes for r in ranked] == [1, 1] and [r.grid.shape for r in ranked] == [(2, 3), (1, 6)]


def test_none_grids_are_skipped():
    candidates = [Candidate(ROT90, None, 0.99), Candidate(IDENTITY, None, 0.99), seen_as(ROT90, WRONG, 0.2)]
    ranked = vote(candidates)
    assert grids(ranked) == [WRONG.tolist()] and ranked[0].votes == 1 and ranked[0].first_seen == 2
    assert vote([Candidate(IDENTITY, None, 1.0)]) == []


def test_empty_and_unknown_policy():
    assert vote([]) == []
    with pytest.raises(ValueError, match="majority"):
        vote([], policy="majority")


def test_top2():
    fallback = np.zeros((1, 1), dtype=np.uint8)
    ranked = vote([seen_as(IDENTITY, RIGHT, 0.5), seen_as(ROT90, RIGHT, 0.5), seen_as(ROT90, WRONG, 0.9)])
    first, second = top2(ranked, fallback)
    assert first.tolist() == RIGHT.tolist() and second.tolist() == WRONG.tolist()
    first, second = top2(ranked[:1], fallback)  # one candidate: attempt_2 repeats attempt_1 (official)
    assert first.tolist() == second.tolist() == RIGHT.tolist()
    assert top2([], fallback) == (fallback, fallback)


def test_accepts_a_generator():
    ranked = vote(seen_as(aug, RIGHT, 0.5) for aug in (IDENTITY, ROT90, FLIP_AND_COLOURS))
    assert len(ranked) == 1 and ranked[0].votes == 3
