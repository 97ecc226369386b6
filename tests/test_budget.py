"""Time: durations, the deadline on a fake clock, the table of `arc_trm.solve.schedule` (margins, reserve, the
in-task split), and the live slices keeping every run in budget."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from conftest import REPO

from arc_trm.core.config import load_config
from arc_trm.core.durations import Deadline, format_duration, parse_duration
from arc_trm.core.tasks import Task, load
from arc_trm.data.task_encoding import task_canvas as canvas_size
from arc_trm.solve import schedule
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.schedule import BudgetPlanner, end_reserve

CPU = load_config(SolveConfig, REPO / "configs" / "cpu.yaml")
CPU_COST = schedule.from_benchmark(REPO / "benchmarks" / "results" / "train_step.json")  # measured CPU steps

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


def planned(tasks: list[Task]) -> dict[str, float]:
    """Each task's seconds in a roomy whole-run plan: the costs a budgeted run divides its time by."""
    return schedule.task_costs(tasks, schedule.make_plan(tasks, CPU, 1, 12 * 3600, CPU_COST).work)


def test_planned_costs_grow_with_canvas_and_tests_and_unworkable_tasks_cost_nothing():
    grid = np.zeros((3, 3), np.uint8)
    costs = planned(
        [
            make_task("small", side=10),
            make_task("big", side=20),
            make_task("tests", side=10, n_test=4),
            Task("no-train", [], [grid]),
            Task("no-test", [(grid, grid)], [None]),
        ]
    )
    assert 0 < costs["small"] < costs["big"] and costs["small"] < costs["tests"]
    assert costs["no-train"] == 0 and costs["no-test"] == 0


def test_costs_without_a_plan_are_equal_and_a_plan_must_name_every_task():
    grid = np.zeros((3, 3), np.uint8)
    assert schedule.task_costs([make_task("a"), Task("empty", [], [grid])], None) == {"a": 1.0, "empty": 0.0}
    with pytest.raises(ValueError, match="names no work for task"):
        schedule.task_costs([make_task("a")], {})


# ---------------------------------------------------------------------------------------------- the table


def test_the_margins_of_the_table():
    """Budget -> plan margin -> usable; the live slices' reserve; the hard stop: each rule's arithmetic."""
    assert schedule.plan_margin(12 * 3600) == 2220 and schedule.plan_margin(100) == 10
    assert end_reserve(None) == 0 and end_reserve(60) == 5 and end_reserve(12 * 3600) == 864
    p = schedule.make_plan([make_task("a", side=10)], CPU, 1, 3600, schedule.L4)
    assert p.usable == 3600 - schedule.plan_margin(3600)
    assert 0 < schedule.STOP_MARGIN < end_reserve(60)  # the stop comes after the reserve has begun


def test_the_in_task_split_of_a_slice():
    """A slice -> rollout versions (predict_share, one step's room) -> training until the rollout must start."""
    per_version = schedule.rollout_seconds(0.01, 2, 16)  # 0.01 s per row, 2 test rows, N_sup 16
    assert per_version == pytest.approx(0.01 * 2 * 16 * schedule.SAFETY)
    step = schedule.step_guess(0.01, 32, 1)
    assert step == pytest.approx(0.01 * 32 * schedule.TRAIN_STEP_FACTOR)
    assert schedule.rollout_versions(60, per_version, step, 0.3, 8) == 8  # 18 s for the rollout: all 8 fit
    assert schedule.rollout_versions(6, per_version, step, 0.3, 8) == int(1.8 / per_version)  # share-bound
    assert schedule.rollout_versions(1.0, per_version, 0.9, 1.0, 8) < 1  # no room for one step: none
    assert schedule.step_fits(0.0, step, step * schedule.SAFETY + 1e-6)
    assert not schedule.step_fits(0.0, step, step * schedule.SAFETY)


# ---------------------------------------------------------------------------------------------- the planner


def all_slices(planner: BudgetPlanner, remaining: float) -> list[float]:
    return [planner.slice_for(task_id, remaining) for task_id in planner.pending]


def test_slices_proportional_to_cost(mixed):
    planner = BudgetPlanner(planned(mixed), budget=3600)
    remaining = 3600
    usable = remaining - planner.reserve
    slices = all_slices(planner, remaining)
    costs = [planner.costs[t.id] for t in mixed]
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
    planner = BudgetPlanner(planned(tasks), budget)
    for remaining in (budget, budget / 2, planner.reserve + 1, planner.reserve, 0):
        assert sum(all_slices(planner, remaining)) <= max(0.0, remaining - planner.reserve) + EPS


def test_leftover_time_goes_to_later_tasks(mixed):
    clock = FakeClock()
    deadline = Deadline(600, clock)
    planner = BudgetPlanner(planned(mixed), 600)
    ids = [t.id for t in reversed(mixed)]  # the smallest task last
    planned_last = planner.slice_for(ids[-1], deadline.remaining())
    for task_id in ids[:-1]:
        clock.advance(planner.slice_for(task_id, deadline.remaining()) / 4)  # finishes early
        planner.done(task_id)
    last = planner.slice_for(ids[-1], deadline.remaining())
    assert last > 2 * planned_last
    assert last == pytest.approx(deadline.remaining() - planner.reserve)


def test_per_task_cap(mixed):
    planner = BudgetPlanner(planned(mixed), 3600, per_task_cap=30)
    assert all(s <= 30 for s in all_slices(planner, 3600))
    assert max(all_slices(planner, 3600)) == 30


def test_unlimited_budget(mixed):
    assert all(s == math.inf for s in all_slices(BudgetPlanner(planned(mixed), None), math.inf))
    capped = BudgetPlanner(planned(mixed), None, per_task_cap=45)
    assert capped.reserve == 0 and all(s == 45 for s in all_slices(capped, math.inf))
    assert capped.can_start(mixed[0].id, math.inf, 45) and not capped.can_start(mixed[0].id, math.inf, 46)


def test_can_start_false_near_the_end(arc1_eval):
    planner = BudgetPlanner(planned(arc1_eval[:20]), 600)
    first = arc1_eval[0].id
    assert planner.slice_for(first, 600) > 1
    assert planner.can_start(first, 600, min_seconds=1)
    assert not planner.can_start(first, planner.reserve + 10, min_seconds=1)  # 10 s over 20 tasks
    assert not planner.can_start(first, planner.reserve, min_seconds=0.001)
    assert planner.slice_for(first, 1) == 0  # inside the reserve


def test_done_and_unknown_ids(mixed):
    planner = BudgetPlanner(planned(mixed), 600)
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
    planner = BudgetPlanner(planned([Task("empty", [], [grid]), make_task("ok")]), None)
    assert planner.slice_for("empty", math.inf) == 0 and planner.slice_for("ok", math.inf) == math.inf


def simulate(tasks: list[Task], budget: float, use, min_seconds: float = 0.0, **kwargs) -> tuple[float, int]:
    """Run a plan on a fake clock, each started task taking `use(slice)` seconds; (elapsed, tasks started)."""
    clock = FakeClock()
    deadline = Deadline(budget, clock)
    planner = BudgetPlanner(planned(tasks), budget, **kwargs)
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
    reserve = end_reserve(budget)
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
