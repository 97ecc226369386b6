"""Submission: complete build with fallbacks, validation messages, atomic write and read-back."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from arc_trm.core import submission as sub
from arc_trm.core.tasks import Task, load


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    """Real ARC-AGI-2 evaluation tasks with 1, 2 and 3 test inputs."""
    taskset = load("arc2-eval")
    by_count = {n: [t for t in taskset if len(t.test_inputs) == n] for n in (1, 2, 3)}
    return by_count[1][:2] + by_count[2][:2] + by_count[3][:1]


@pytest.fixture()
def built(tasks) -> dict:
    return sub.build(tasks, {})


def test_fallback_grid():
    grid = np.array([[1, 2]], dtype=np.uint8)
    out = sub.fallback_grid(grid)
    assert out.tolist() == [[1, 2]] and out.dtype == np.uint8 and out is not grid
    assert sub.fallback_grid(None).tolist() == [[0]]


def test_build_fills_fallbacks_and_validates_clean(tasks):
    one, two, three = tasks[0], tasks[2], tasks[4]
    truth = two.test_outputs[1]
    attempts = {
        one.id: [(np.array([[1, 2]]), None)],  # attempt_2 missing
        two.id: [None, (truth, [[1, 2], [3]])],  # first position None, invalid attempt_2
        three.id: [([[7]], [[8]])],  # only the first of three positions
        "not-a-task": [([[1]], [[1]])],
    }
    out = sub.build(tasks, attempts)
    assert list(out) == [t.id for t in tasks]  # every task, in order, nothing extra
    assert [len(out[t.id]) for t in tasks] == [len(t.test_inputs) for t in tasks] == [1, 1, 2, 2, 3]
    assert sub.validate(out, tasks) == []

    assert out[one.id][0] == {"attempt_1": [[1, 2]], "attempt_2": one.test_inputs[0].tolist()}
    assert out[two.id][0] == {key: two.test_inputs[0].tolist() for key in sub.ATTEMPTS}
    assert out[two.id][1] == {"attempt_1": truth.tolist(), "attempt_2": two.test_inputs[1].tolist()}
    assert out[three.id][0] == {"attempt_1": [[7]], "attempt_2": [[8]]}
    assert out[three.id][2]["attempt_1"] == three.test_inputs[2].tolist()
    assert all(type(x) is int for row in out[one.id][0]["attempt_1"] for x in row)  # plain ints, not numpy


def test_build_accepts_entry_dicts(tasks):
    entry = {"attempt_1": [[3]], "attempt_2": [[4]]}
    out = sub.build(tasks[:1], {tasks[0].id: [entry]})
    assert out[tasks[0].id] == [entry]


def test_unreadable_test_input_gets_zero_grid(tasks):
    task = copy.deepcopy(tasks[2])
    task.test_inputs[1] = None
    out = sub.build([task], {})
    assert out[task.id][1] == {"attempt_1": [[0]], "attempt_2": [[0]]}
    assert out[task.id][0]["attempt_1"] == task.test_inputs[0].tolist()


def _problems(submission, tasks) -> str:
    problems = sub.validate(submission, tasks)
    assert len(problems) == 1, problems
    return problems[0]


def test_validate_catches_each_kind_of_problem(tasks, built):
    t1, t2 = tasks[0].id, tasks[2].id
    assert "not a JSON object" in sub.validate([], tasks)[0]

    bad = copy.deepcopy(built)
    del bad[t1]
    assert _problems(bad, tasks) == f"{t1}: missing task"

    bad = copy.deepcopy(built)
    bad["extra1"] = []
    assert _problems(bad, tasks) == "extra1: extra task not in the input"

    bad = copy.deepcopy(built)
    bad[t2] = bad[t2][:1]
    assert _problems(bad, tasks) == f"{t2}: expected 2 entries (one per test input), got 1"

    bad = copy.deepcopy(built)
    bad[t2] = {"attempt_1": [[0]]}
    assert _problems(bad, tasks).startswith(f"{t2}: expected a list of 2 entries")

    bad = copy.deepcopy(built)
    bad[t2][1] = [[0]]
    assert _problems(bad, tasks) == f"{t2}[1]: not an object with attempt_1 and attempt_2"

    bad = copy.deepcopy(built)
    del bad[t2][1]["attempt_2"]
    assert _problems(bad, tasks) == f"{t2}[1]: missing attempt_2"


@pytest.mark.parametrize(
    "grid,reason",
    [
        ([[1, 2], [3]], "different lengths"),
        ([[1, 10]], "not an integer 0-9"),
        ([], "not a non-empty list"),
        ([[0] * 31], "larger than 30x30"),
        ([[1.0]], "not an integer 0-9"),
    ],
)
def test_validate_bad_grid_names_task_position_and_reason(tasks, built, grid, reason):
    task_id = tasks[4].id
    built[task_id][2]["attempt_1"] = grid
    problem = _problems(built, tasks)
    assert problem.startswith(f"{task_id}[2].attempt_1: ") and reason in problem


def test_write_is_atomic_and_round_trips(tmp_path, built, tasks):
    path = tmp_path / "deep" / "er" / "submission.json"
    assert sub.write(built, path) == path
    sub.write(built, path)  # overwrite in place
    assert [p.name for p in path.parent.iterdir()] == ["submission.json"]  # no temp file left behind
    assert sub.read(path) == built
    assert sub.validate(sub.read(path), tasks) == []


def test_write_numpy_values(tmp_path):
    path = sub.write({"t": [{"attempt_1": np.array([[1]]), "attempt_2": [[np.uint8(2)]]}]}, tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"t": [{"attempt_1": [[1]], "attempt_2": [[2]]}]}


def test_write_json_any_value(tmp_path):
    path = sub.write_json({"macro": 0.5, "rows": [1, 2]}, tmp_path / "scores" / "s.json")
    assert json.loads(path.read_text()) == {"macro": 0.5, "rows": [1, 2]}


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "submission.json"
    sub.write({"a": []}, path)
    with pytest.raises(TypeError):
        sub.write({"a": object()}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["submission.json"]
    assert sub.read(path) == {"a": []}


def test_read_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(ValueError, match="missing.json"):
        sub.read(missing)
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": [')
    with pytest.raises(ValueError, match="broken.json.*not valid JSON"):
        sub.read(broken)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json.*JSON object"):
        sub.read(listing)
