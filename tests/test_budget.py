"""Budget: durations, the deadline on a fake clock, task costs, and the planner keeping every run in budget."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from arc_trm.solve.budget import (
    ROLLOUT_SHARE,
    BudgetPlanner,
    Deadline,
    default_reserve,
    format_duration,
    parse_duration,
    task_cost,
)
from arc_trm.data.task_encoding import task_canvas as canvas_size
from arc_trm.core.tasks import Task, load

EPS = 1e-9  # seconds of float rounding allowed in sums


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_task(task_id: str, side: int = 29, n_train: int = 3, n_test: int = 1) -> Task:
    """A synthetic task whose largest grid is side x side (canvas side + 1, at most 30)."""
    grid = np.zeros((side, side), np.uint8)
    return Task(task_id, [(grid, grid)] * n_train, [grid] * n_test)


@pytest.fixture(scope="module")
def arc1_eval() -> list[Task]:
    return load("arc1-eval").tasks


@pytest.fixture(scope="module")
def mixed(arc1_eval) -> list[Task]:
    """Real tasks with small, middling and full canvases and 2 to 5+ demonstrations."""
    by_canvas = sorted(arc1_eval, key=canvas_size)
    return [by_canvas[0], by_canvas[100], by_canvas[200], by_canvas[300], by_canvas[-1]]


# ---------------------------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("45m", 2700),
        ("12h", 43200),
        ("1h30m", 5400),
        ("11h30m", 41400),
        ("2h15m30s", 8130),
        ("1.5h", 5400),
        ("3600", 3600),
        ("2.5", 2.5),
        (" 10M ", 600),
        ("1h 30m", 5400),
        ("90m", 5400),
        ("0.5s", 0.5),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "  ", "0", "0s", "0h0m", "-5m", "-3600", "abc", "5x", "1h30", "m", "h1", "30m1h", "1..5h", "inf"]
)
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_duration_messages():
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("-5m")
    with pytest.raises(ValueError, match="90s, 45m, 12h"):
        parse_duration("5x")


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0s"),
        (45, "45s"),
        (59.6, "1m00s"),
        (185, "3m05s"),
        (3600, "1h00m"),
        (3720, "1h02m"),
        (43200, "12h00m"),
        (-90, "-1m30s"),
        (math.inf, "unlimited"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# ---------------------------------------------------------------------------------------------- deadline


def test_deadline_on_fake_clock():
    clock = FakeClock()
    deadline = Deadline(100, clock)
    assert deadline.elapsed() == 0 and deadline.remaining() == 100 and not deadline.expired()
    clock.advance(50)
    assert deadline.at(0.5) and not deadline.at(0.6)
    assert deadline.remaining() == 50
    clock.advance(60)
    assert deadline.expired() and deadline.remaining() == 0 and deadline.elapsed() == 110


def test_unlimited_deadline():
    clock = FakeClock()
    deadline = Deadline(None, clock)
    clock.advance(1e9)
    assert deadline.remaining() == math.inf and not deadline.expired() and not deadline.at(0.0)
    assert "unlimited" in repr(deadline)


def test_deadline_default_clock_moves_forward():
    deadline = Deadline(3600)
    assert 0 <= deadline.elapsed() < 5 and deadline.remaining() <= 3600


def test_deadline_rejects_negative_budget():
    with pytest.raises(ValueError):
        Deadline(-1)


# ---------------------------------------------------------------------------------------------- costs


def test_task_cost_model(mixed):
    for task in mixed:
        tests = sum(g is not None for g in task.test_inputs)
        expected = canvas_size(task) ** 2 * (len(task.train) + ROLLOUT_SHARE * tests)
        assert task_cost(task) == expected
    task = mixed[0]
    assert task_cost(task, translate=2) > task_cost(task)


def test_task_cost_grows_with_canvas_demonstrations_and_tests():
    assert task_cost(make_task("a", side=10)) < task_cost(make_task("b", side=20))
    assert task_cost(make_task("a", n_train=2)) < task_cost(make_task("b", n_train=5))
    assert task_cost(make_task("a", n_test=1)) < task_cost(make_task("b", n_test=4))


def test_task_cost_of_unworkable_tasks():
    grid = np.zeros((3, 3), np.uint8)
    assert task_cost(Task("no-train", [], [grid])) == 0
    assert task_cost(Task("no-test", [(grid, grid)], [None])) == 0
    half = Task("half", [(grid, grid)], [grid, None])
    assert task_cost(half) == 16 * (1 + ROLLOUT_SHARE)


# ---------------------------------------------------------------------------------------------- the planner


def all_slices(planner: BudgetPlanner, remaining: float) -> list[float]:
    return [planner.slice_for(task_id, remaining) for task_id in planner.pending]


def test_default_reserve():
    assert default_reserve(None) == 0 and default_reserve(60) == 5 and default_reserve(12 * 3600) == 864


def test_slices_proportional_to_cost(mixed):
    planner = BudgetPlanner(mixed, budget=3600)
    remaining = 3600
    usable = remaining - planner.reserve
    slices = all_slices(planner, remaining)
    costs = [task_cost(t) for t in mixed]
    assert len(set(costs)) == len(costs)  # a real mix
    for s, c in zip(slices, costs):
        assert s == pytest.approx(usable * c / sum(costs))
    assert slices[-1] > 5 * slices[0]  # a full canvas gets far more time than the smallest one
    assert sum(slices) <= usable + EPS


@pytest.mark.parametrize(
    "name, budget",
    [("arc1-eval in 60 s", 60), ("arc1-eval in 12 h", 43200), ("full canvases", 600), ("four tests", 90)],
)
def test_slices_never_exceed_remaining_minus_reserve(arc1_eval, name, budget):
    tasks = {
        "arc1-eval in 60 s": arc1_eval,
        "arc1-eval in 12 h": arc1_eval,
        "full canvases": [make_task(f"big{i}", side=30, n_train=7) for i in range(300)],
        "four tests": [make_task(f"t{i}", side=5 + i % 25, n_test=4) for i in range(100)] + arc1_eval[:50],
    }[name]
    planner = BudgetPlanner(tasks, budget)
    for remaining in (budget, budget / 2, planner.reserve + 1, planner.reserve, 0):
        assert sum(all_slices(planner, remaining)) <= max(0.0, remaining - planner.reserve) + EPS


def test_leftover_time_goes_to_later_tasks(mixed):
    clock = FakeClock()
    deadline = Deadline(600, clock)
    planner = BudgetPlanner(mixed, 600)
    ids = [t.id for t in reversed(mixed)]  # the smallest task last
    planned_last = planner.slice_for(ids[-1], deadline.remaining())
    for task_id in ids[:-1]:
        clock.advance(planner.slice_for(task_id, deadline.remaining()) / 4)  # finishes early
        planner.done(task_id)
    last = planner.slice_for(ids[-1], deadline.remaining())
    assert last > 2 * planned_last
    assert last == pytest.approx(deadline.remaining() - planner.reserve)


def test_per_task_cap(mixed):
    planner = BudgetPlanner(mixed, 3600, per_task_cap=30)
    assert all(s <= 30 for s in all_slices(planner, 3600))
    assert max(all_slices(planner, 3600)) == 30


def test_unlimited_budget(mixed):
    assert all(s == math.inf for s in all_slices(BudgetPlanner(mixed, None), math.inf))
    capped = BudgetPlanner(mixed, None, per_task_cap=45)
    assert capped.reserve == 0 and all(s == 45 for s in all_slices(capped, math.inf))
    assert capped.can_start(mixed[0].id, math.inf, 45) and not capped.can_start(mixed[0].id, math.inf, 46)


def test_can_start_false_near_the_end(arc1_eval):
    planner = BudgetPlanner(arc1_eval[:20], 600)
    first = arc1_eval[0].id
    assert planner.slice_for(first, 600) > 1
    assert planner.can_start(first, 600, min_seconds=1)
    assert not planner.can_start(first, planner.reserve + 10, min_seconds=1)  # 10 s over 20 tasks
    assert not planner.can_start(first, planner.reserve, min_seconds=0.001)
    assert planner.slice_for(first, 1) == 0  # inside the reserve


def test_done_and_unknown_ids(mixed):
    planner = BudgetPlanner(mixed, 600)
    planner.done(mixed[0].id)
    planner.done(mixed[0].id)  # idempotent
    assert planner.pending == [t.id for t in mixed[1:]]
    with pytest.raises(KeyError, match="not in this plan"):
        planner.slice_for("nope", 100)
    with pytest.raises(KeyError, match="not in this plan"):
        planner.done("nope")
    assert "4/5 pending" in repr(planner)


def test_unworkable_task_gets_no_time():
    grid = np.zeros((3, 3), np.uint8)
    planner = BudgetPlanner([Task("empty", [], [grid]), make_task("ok")], None)
    assert planner.slice_for("empty", math.inf) == 0 and planner.slice_for("ok", math.inf) == math.inf


def simulate(tasks: list[Task], budget: float, use, min_seconds: float = 0.0, **kwargs) -> tuple[float, int]:
    """Run a plan on a fake clock, each started task taking `use(slice)` seconds; (elapsed, tasks started)."""
    clock = FakeClock()
    deadline = Deadline(budget, clock)
    planner = BudgetPlanner(tasks, budget, **kwargs)
    started = 0
    for task in tasks:
        remaining = deadline.remaining()
        if planner.can_start(task.id, remaining, min_seconds):
            clock.advance(use(planner.slice_for(task.id, remaining)))
            started += 1
        planner.done(task.id)
    return deadline.elapsed(), started


@pytest.mark.parametrize("budget", [60, 600, 43200])
def test_simulated_run_stays_within_budget(arc1_eval, budget):
    reserve = default_reserve(budget)
    elapsed, started = simulate(arc1_eval, budget, use=lambda s: s)
    assert elapsed <= budget - reserve + EPS
    assert elapsed == pytest.approx(budget - reserve)  # and uses all of it
    assert started == len(arc1_eval)


def test_simulated_run_with_random_early_finishes_and_a_minimum(arc1_eval):
    rng = random.Random(0)
    tasks = rng.sample(arc1_eval, len(arc1_eval))
    elapsed, started = simulate(tasks, 60, use=lambda s: s * rng.uniform(0.2, 1.0), min_seconds=0.2)
    assert elapsed <= 60 - 5 + EPS
    assert 0 < started < len(tasks)  # 55 s over 400 tasks: some are skipped rather than started short


def test_simulated_run_with_cap_and_custom_reserve(arc1_eval):
    elapsed, started = simulate(arc1_eval, 3600, use=lambda s: s, reserve=120, per_task_cap=5)
    assert elapsed <= 400 * 5 + EPS and started == 400
    elapsed, _ = simulate(arc1_eval, 1000, use=lambda s: s, reserve=120, per_task_cap=5)
    assert elapsed <= 1000 - 120 + EPS
