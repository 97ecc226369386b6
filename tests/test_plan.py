"""The whole-run planner: it never plans past the budget, deals tasks as solve shards them, and solve obeys it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from arc_trm.core import tasks
from arc_trm.core.config import from_dict, load_config
from arc_trm.core.events import Planned
from arc_trm.core.tasks import Task, TaskSet
from arc_trm.solve import schedule
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.records import RecordStore, records_dir
from arc_trm.solve.run import solve
from arc_trm_cli.app import app

REPO = Path(__file__).resolve().parents[1]
KAGGLE = load_config(SolveConfig, REPO / "configs" / "kaggle-4xl4.yaml")
CPU = load_config(SolveConfig, REPO / "configs" / "cpu.yaml")


def make_task(task_id: str, side: int, n_train: int = 3, n_test: int = 1) -> Task:
    grid = np.zeros((side, side), np.uint8)
    return Task(task_id, [(grid, grid)] * n_train, [grid] * n_test)


def check(p: schedule.Plan, task_ids: list[str], max_steps: int) -> None:
    """What every plan must satisfy: within the usable budget on every device, dealt in turn over the order."""
    assert sorted(p.order) == sorted(task_ids) and set(p.work) == set(task_ids)
    assert all(load <= p.usable * (1 + 1e-9) for load in p.loads())
    assert p.usable <= p.budget
    assert all(p.work[t].device == i % p.devices for i, t in enumerate(p.order))  # solve's todo[i::workers]
    assert all(0 <= w.steps <= max_steps and w.versions >= 0 for w in p.work.values())
    worked = [w for w in p.work.values() if w.steps > 0]
    assert all(w.steps == p.steps and w.versions == p.versions for w in worked)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(
        st.tuples(st.sampled_from([2, 5, 10, 20, 29, 29, 29]), st.integers(1, 10), st.integers(1, 10)),
        min_size=1,
        max_size=240,
    ),
    devices=st.integers(1, 8),
    hours=st.floats(0.01, 12.0),
    max_steps=st.integers(1, 50000),
)
def test_plan_never_exceeds_the_budget_on_adversarial_mixes(sizes, devices, hours, max_steps):
    mix = [make_task(f"t{i}", side, n_train, n_test) for i, (side, n_train, n_test) in enumerate(sizes)]
    config = dataclasses.replace(KAGGLE, ttt=dataclasses.replace(KAGGLE.ttt, max_steps=max_steps))
    p = schedule.make_plan(mix, config, devices, hours * 3600, schedule.L4)
    check(p, [t.id for t in mix], max_steps)


def test_all_full_canvas_tasks_with_four_tests_fit_by_fewer_steps_then_fewer_versions_then_drops():
    mix = [make_task(f"big{i}", 29, 10, 4) for i in range(240)]
    roomy = schedule.make_plan(mix, KAGGLE, 4, 11.5 * 3600, schedule.L4)
    tight = schedule.make_plan(mix, KAGGLE, 4, 3600, schedule.L4)
    tiny = schedule.make_plan(mix, KAGGLE, 4, 600, schedule.L4)
    for p in (roomy, tight, tiny):
        check(p, [t.id for t in mix], KAGGLE.ttt.max_steps)
    assert roomy.steps >= 50 and roomy.versions == KAGGLE.ttt.versions and not roomy.dropped
    assert tight.steps < roomy.steps
    assert tiny.dropped and tiny.versions == 1  # versions halved to 1 before any task was dropped
    assert all(tiny.work[t].seconds == 0 for t in tiny.dropped)


def test_costliest_tasks_come_first_and_loads_are_balanced():
    arc2 = tasks.load("arc2-eval").tasks
    p = schedule.make_plan(arc2, KAGGLE, 4, 11.5 * 3600, schedule.L4)
    check(p, [t.id for t in arc2], KAGGLE.ttt.max_steps)
    canvases = [p.canvases[t] for t in p.order]
    assert canvases == sorted(canvases, reverse=True)
    loads = p.loads()
    assert max(loads) - min(loads) <= max(w.seconds for w in p.work.values())
    assert max(loads) <= p.usable and p.steps == min(KAGGLE.ttt.max_steps, p.steps)


def test_unsolvable_tasks_are_planned_as_dropped():
    mix = [make_task("a", 5), Task("empty", [], [np.zeros((3, 3), np.uint8)])]
    p = schedule.make_plan(mix, CPU, 2, 600, schedule.L4)
    assert p.work["empty"].steps == 0 and p.work["a"].steps > 0 and p.order[-1] == "empty"


def test_config_for_and_task_costs():
    work = {"a": schedule.TaskWork(16, 300, 12.0, 0), "b": schedule.TaskWork(8, 500, 20.0, 1)}
    one = schedule.config_for(CPU, work, ["a"])
    assert (one.ttt.versions, one.ttt.max_steps) == (16, 300) and one.ttt.lr == CPU.ttt.lr
    both = schedule.config_for(CPU, work, ["a", "b"])
    assert (both.ttt.versions, both.ttt.max_steps) == (8, 500)
    assert schedule.config_for(CPU, work, ["c"]) is CPU and schedule.config_for(CPU, None, ["a"]) is CPU
    assert schedule.task_costs([make_task("a", 5), make_task("b", 5)], work) == {"a": 12.0, "b": 20.0}


def test_flop_model_explains_the_measured_cpu_steps():
    """The cost model's FLOPs over the measured CPU step times give one rate within a factor of 2 for every
    TRM row of benchmarks/results/train_step.json (canvas 10 to 30, hidden 64 to 512)."""
    path = REPO / "benchmarks" / "results" / "train_step.json"
    cpu = schedule.from_benchmark(path)
    for row in json.loads(path.read_text())["rows"]:
        if row["arch"] == "trm":
            predicted = cpu.train_step(schedule._bench_model(row), row["canvas"], row["batch"])
            assert 0.5 <= predicted / row["seconds"] <= 2.0, row["config"]


def test_measure_fits_a_positive_rate_on_this_cpu():
    torch.set_num_threads(1)
    cost = schedule.measure(CPU, torch.device("cpu"), steps=1)
    assert cost.flops > 0 and cost.step_overhead >= 0 and cost.task_overhead > 0
    assert cost.train_step(CPU.model, 30, 2) > 0


def test_solve_follows_the_plan(tmp_path):
    """solve(plan=...) trains each task for its planned steps at most, with its versions; a dropped task keeps
    its fallback; the records' configs are the planned ones, so the same call resumes them all."""
    taskset = tasks.load(REPO / "examples" / "tasks")
    small = dataclasses.replace(CPU, ttt=dataclasses.replace(CPU.ttt, versions=8, max_steps=1000), min_task_seconds=0.5)
    kept, dropped = taskset.ids[0], taskset.ids[1]
    work = {kept: schedule.TaskWork(4, 15, 20.0, 0), dropped: schedule.TaskWork(0, 0, 0.0, 0)}
    subset = TaskSet([taskset[kept], taskset[dropped]])
    report = solve(subset, tmp_path / "submission.json", small, budget_seconds=120, plan=work)
    records = {r.task_id: r.record for r in report.results}
    assert records[kept]["status"] == "predicted" and records[kept]["steps"] == 15
    assert records[kept]["versions"] == 4 and records[kept]["config"]["ttt"]["max_steps"] == 15
    assert records[dropped]["status"] == "skipped" and records[dropped]["reason"] == "dropped by the plan"
    again = solve(subset, tmp_path / "submission.json", small, budget_seconds=120, plan=work)
    assert (
        again.resumed == 2
        and again.redone == 0
        and (records_dir(tmp_path / "submission.json") / f"{kept}.json").is_file()
    )


def test_the_kaggle_simulation_fits_240_tasks_in_12_hours_on_4_l4s(tmp_path):
    from benchmarks import kaggle_plan

    result = kaggle_plan.main(["--out", str(tmp_path)])
    saved = json.loads((tmp_path / "kaggle_plan.json").read_text())
    assert result["tasks"] == 240 and saved["plan"]["devices"] == 4 and len(saved["plan"]["work"]) == 240
    assert saved["budget"] <= saved["limit"] and max(saved["plan"]["loads"]) <= saved["plan"]["usable"]
    assert sum(b["tasks"] for b in saved["buckets"]) == 240
    assert sum(b["test_inputs"] for b in saved["buckets"]) == 2 * 172  # ARC-AGI-2 evaluation on Kaggle, twice
    assert all(s["max_load"] <= saved["plan"]["usable"] for s in saved["sensitivity"])


@pytest.mark.slow
def test_workers_follow_the_plan(tmp_path):
    """With two worker processes (CPU here, one per GPU on Kaggle) each task still gets its planned work."""
    taskset = tasks.load(REPO / "examples" / "tasks")
    subset = TaskSet([taskset[t] for t in taskset.ids[:2]])
    small = dataclasses.replace(
        CPU, ttt=dataclasses.replace(CPU.ttt, versions=8, max_steps=1000), min_task_seconds=0.5, device="cpu"
    )
    work = {t: schedule.TaskWork(4 + 2 * i, 10 + 5 * i, 20.0, i) for i, t in enumerate(subset.ids)}
    report = solve(subset, tmp_path / "submission.json", small, budget_seconds=120, plan=work, workers=2)
    for result in report.results:
        assert (result.record["steps"], result.record["versions"]) == (
            work[result.task_id].steps,
            work[result.task_id].versions,
        )


CPU_COST = schedule.from_benchmark(REPO / "benchmarks" / "results" / "train_step.json")  # measured CPU steps


def reproduces(saved: dict, taskset: TaskSet) -> None:
    """A saved plan is `make_plan` of these tasks under its own config, devices, budget and cost model."""
    config = from_dict(SolveConfig, saved["config"])
    again = schedule.make_plan(taskset, config, saved["devices"], saved["budget"], schedule.CostModel(**saved["cost"]))
    assert json.loads(json.dumps(again.to_dict())) == saved


def test_measuring_that_outlasts_its_share_of_the_budget_is_stopped():
    """Measuring may take MEASURE_SHARE of the budget: past its timeout the measuring process is stopped and
    there is no cost model (the run then goes unplanned, with equal shares, and says so)."""
    import multiprocessing

    assert schedule.measure_apart(CPU, "cpu", timeout=0.01) is None  # spawning alone takes longer
    assert multiprocessing.active_children() == []


@pytest.mark.slow
def test_a_budget_always_plans_and_a_resumed_run_keeps_its_plan(tmp_path):
    """solve with a budget and no plan makes the whole-run plan (here from a given cost model), saves it in the
    records folder, asks each task for its planned steps; the same call again keeps that plan, so every
    record stays done; --fresh plans again."""
    taskset = tasks.load(REPO / "examples" / "tasks")
    subset = TaskSet([taskset[t] for t in taskset.ids[:2]])
    small = dataclasses.replace(CPU, ttt=dataclasses.replace(CPU.ttt, versions=4, max_steps=12), device="cpu")
    out, seen = tmp_path / "submission.json", []
    report = solve(subset, out, small, budget_seconds=120, cost=CPU_COST, on_event=seen.append)
    saved = json.loads((records_dir(out) / schedule.PLAN_FILE).read_text())
    planned = [e for e in seen if isinstance(e, Planned)]
    assert len(planned) == 1 and not planned[0].kept and "plan: 2 tasks on 1 device(s)" in planned[0].summary
    assert saved["cost"]["name"] == CPU_COST.name and sorted(saved["order"]) == sorted(subset.ids)
    reproduces(saved, subset)
    for result in report.results:
        assert result.record["config"]["ttt"]["max_steps"] == saved["work"][result.task_id]["steps"] > 0
    seen.clear()
    again = solve(subset, out, small, budget_seconds=120, on_event=seen.append)  # no cost given: it is not measured
    assert [e.kept for e in seen if isinstance(e, Planned)] == [True]
    assert again.resumed == sum(r.status in ("predicted", "fallback") for r in report.results) and again.redone == 0
    seen.clear()
    solve(subset, out, small, budget_seconds=120, cost=CPU_COST, fresh=True, on_event=seen.append)
    assert [e.kept for e in seen if isinstance(e, Planned)] == [False]


def test_solve_with_a_time_budget_plans_from_measured_step_times(tmp_path):
    """`arc-trm solve --time-budget` plans: step times measured in a process of its own, the plan saved in the
    run's records folder (reproducible from its own cost and budget) and followed by every task."""
    out = tmp_path / "submission.json"
    ids = tasks.load(REPO / "examples" / "tasks").ids[:2]
    result = CliRunner().invoke(
        app,
        [
            "solve",
            str(REPO / "examples" / "tasks"),
            "--ids",
            ",".join(ids),
            "--out",
            str(out),
            "--time-budget",
            "20m",
            "--set",
            "ttt.max_steps=12",
            "--set",
            "ttt.versions=4",
            "--set",
            "device=cpu",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((records_dir(out) / schedule.PLAN_FILE).read_text())
    assert "planned" in result.output and "plan: 2 tasks on 1 device(s)" in result.output
    assert saved["cost"]["name"] == "measured on cpu" and "in process" in saved["cost"]["source"]
    assert saved["budget"] < 1200
    reproduces(saved, TaskSet([tasks.load(REPO / "examples" / "tasks")[t] for t in ids]))
    records = RecordStore(records_dir(out)).load_all()
    assert all(r["config"]["ttt"]["max_steps"] == saved["work"][t]["steps"] for t, r in records.items())


def test_dry_run_with_a_budget_shows_the_plan():
    """`solve --dry-run` with a budget previews the whole-run plan: its order, steps, versions and seconds."""
    taskset = tasks.load(REPO / "examples" / "tasks")
    rows = schedule.preview(taskset, KAGGLE, schedule.L4, budget=600, workers=2)
    p = schedule.make_plan(taskset, KAGGLE, 2, 600, schedule.L4)
    assert [r["task_id"] for r in rows] == p.order
    assert all(r["steps"] == p.work[r["task_id"]].steps and r["seconds"] == p.work[r["task_id"]].seconds for r in rows)
    assert max(r["ends_at"] for r in rows) == max(p.loads())
    unplanned = schedule.preview(taskset, CPU, schedule.L4)
    assert [r["task_id"] for r in unplanned] == taskset.ids and all(r["seconds"] == CPU.task_seconds for r in unplanned)
