"""Task loading and validation: real splits, folders, Kaggle files, and bad input that loses nothing else."""

import json

import numpy as np
import pytest
from conftest import REPO

from arc_trm.core import tasks
from arc_trm.core.tasks import GridError, load, load_solutions, to_grid


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.fixture(scope="module")
def arc1_eval():
    return load("arc1-eval")


@pytest.mark.parametrize(
    "name, n_tasks, n_test",
    [
        ("arc1-train", 400, 416),
        ("arc1-eval", 400, 419),
        ("arc2-train", 1000, 1076),
        ("arc2-eval", 120, 172),
        ("concept", 160, 480),
    ],
)
def test_splits_have_official_sizes_and_solutions(name, n_tasks, n_test):
    taskset = load(name)
    assert len(taskset) == n_tasks
    assert sum(len(t.test_inputs) for t in taskset) == n_test
    assert not taskset.problems
    assert all(t.ok and t.test_outputs is not None and len(t.test_outputs) == len(t.test_inputs) for t in taskset)
    assert all(g.dtype == np.uint8 and g.ndim == 2 for t in taskset for g in t.grids)


def test_real_task_content(arc1_eval):
    task = arc1_eval["00576224"]  # 2x2 input tiled (with mirrored rows) into 6x6
    assert len(task.train) == 2
    assert task.test_inputs[0].shape == (2, 2) and task.test_outputs[0].shape == (6, 6)
    assert task.source == "split:arc1-eval"
    assert "00576224" in repr(task)


def test_find_task_searches_every_split():
    assert tasks.find_task("007bbfb7").id == "007bbfb7"
    assert tasks.find_task("AboveBelow1").source == "split:concept"
    with pytest.raises(KeyError, match="none of the splits"):
        tasks.find_task("notatask")


@pytest.mark.parametrize(
    "grid, reason",
    [
        ([], "non-empty"),
        ([[1, 2], [3]], "different lengths"),
        ([[1, 10]], "0-9"),
        ([[1, -1]], "0-9"),
        ([[1.5]], "0-9"),
        ([[True]], "0-9"),
        ([[0] * 31], "larger than 30x30"),
        ([[0]] * 31, "larger than 30x30"),
        ([[]], "empty"),
        ("abc", "non-empty list"),
        ([1, 2], "not a list"),
    ],
)
def test_to_grid_rejects_bad_grids(grid, reason):
    with pytest.raises(GridError, match=reason):
        to_grid(grid)


def test_to_grid_accepts_extremes():
    assert to_grid([[9]]).shape == (1, 1)
    assert to_grid([[0] * 30] * 30).shape == (30, 30)


def test_folder_with_bad_files_keeps_the_good_and_the_usable(tmp_path, arc1_eval):
    good = arc1_eval["00576224"].to_json()
    write(tmp_path / "good.json", good)
    write(tmp_path / "broken.json", '{"train": [')
    write(tmp_path / "notest.json", {"train": good["train"]})
    bad_train = json.loads(json.dumps(good))
    bad_train["train"][0]["output"] = [[1, 2], [3]]
    write(tmp_path / "badtrain.json", bad_train)
    no_train = {"train": [{"input": [[11]], "output": [[1]]}], "test": good["test"]}
    write(tmp_path / "notrain.json", no_train)
    bad_test = json.loads(json.dumps(good))
    bad_test["test"].append({"input": [[1, 2, 3]] * 40})
    write(tmp_path / "badtest.json", bad_test)
    (tmp_path / "notes.txt").write_text("ignored")

    taskset = load(tmp_path)

    assert taskset.ids == ["badtest", "badtrain", "broken", "good", "notest", "notrain"]  # every id, by file name
    by_id = {t.id: t for t in taskset}
    for unreadable in ("broken", "notest"):  # kept, so that the submission has their ids: one unreadable test input
        assert by_id[unreadable].test_inputs == [None] and not by_id[unreadable].solvable
    assert by_id["good"].ok and by_id["good"].solvable
    assert len(by_id["badtrain"].train) == 1 and by_id["badtrain"].solvable  # one of two pairs kept
    assert not by_id["notrain"].solvable and by_id["notrain"].test_inputs[0] is not None
    assert by_id["badtest"].test_inputs[1] is None and len(by_id["badtest"].test_inputs) == 2
    assert by_id["badtest"].test_outputs is None  # the added test entry has no output

    reasons = {(p.file.split("/")[-1], p.field): p.reason for p in taskset.problems}
    assert "not valid JSON" in reasons[("broken.json", "file")]
    assert "missing" in reasons[("notest.json", "test")]
    assert "different lengths" in reasons[("badtrain.json", "train[0].output")]
    assert "0-9" in reasons[("notrain.json", "train[0].input")]
    assert "no valid demonstration" in reasons[("notrain.json", "train")]
    assert "larger than 30x30" in reasons[("badtest.json", "test[1].input")]
    assert all(p.task_id for p in taskset.problems)
    assert "badtrain.json [badtrain] train[0].output" in str(
        next(p for p in taskset.problems if p.task_id == "badtrain")
    )


def test_empty_folder_is_a_problem_not_an_exception(tmp_path):
    taskset = load(tmp_path)
    assert len(taskset) == 0 and "no .json task files" in taskset.problems[0].reason


def test_missing_source_raises_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file, folder or split"):
        load(tmp_path / "nothing.json")


def test_kaggle_challenges_with_solutions(tmp_path):
    arc2 = load("arc2-eval")
    chosen = [t for t in arc2 if len(t.test_inputs) > 1][:3] + [arc2.tasks[0]]
    challenges = {
        t.id: {"train": t.to_json()["train"], "test": [{"input": g.tolist()} for g in t.test_inputs]} for t in chosen
    }
    solutions = {t.id: [g.tolist() for g in t.test_outputs] for t in chosen}
    challenges["broken"] = {"train": "nope", "test": [{"input": [[1]]}]}
    solutions["broken"] = [[[1]], [[2]]]  # wrong count: reported, the task stays usable
    write(tmp_path / "c.json", challenges)
    write(tmp_path / "s.json", solutions)

    no_solutions = load(tmp_path / "c.json")
    assert no_solutions.ids == [t.id for t in chosen] + ["broken"]
    assert all(t.test_outputs is None for t in no_solutions)

    taskset = tasks.load_challenges(tmp_path / "c.json", tmp_path / "s.json")
    for task in chosen:
        loaded = taskset[task.id]
        assert all(np.array_equal(a, b) for a, b in zip(loaded.test_outputs, task.test_outputs))
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(loaded.train, task.train))
    assert taskset["broken"].test_outputs is None and not taskset["broken"].solvable
    fields = {p.field for p in taskset.problems if p.task_id == "broken"}
    assert fields == {"train", "solutions"}

    attached = load(tmp_path / "c.json", solutions=tmp_path / "s.json")
    assert attached[chosen[0].id].test_outputs is not None
    assert any(p.field == "solutions" and p.task_id == "broken" for p in attached.problems)


def test_challenges_file_that_is_not_a_mapping(tmp_path):
    taskset = load(write(tmp_path / "list.json", [1, 2, 3]))
    assert len(taskset) == 0 and "mapping task ids" in taskset.problems[0].reason


def test_load_solutions_from_each_kind_of_source(tmp_path, arc1_eval):
    task = arc1_eval["00576224"]
    write(tmp_path / "sol.json", {task.id: [g.tolist() for g in task.test_outputs]})
    folder = tmp_path / "tasks"
    folder.mkdir()
    write(folder / f"{task.id}.json", task.to_json())
    for source in (tmp_path / "sol.json", folder, "arc1-eval"):
        grids = load_solutions(source)[task.id]
        assert np.array_equal(grids[0], task.test_outputs[0])
    write(folder / f"{task.id}.json", {"train": task.to_json()["train"], "test": [{"input": [[1]]}]})
    with pytest.raises(ValueError, match="no test outputs"):
        load_solutions(folder)


def test_shipped_examples_load_with_answers():
    taskset = load(REPO / "examples" / "tasks")
    assert len(taskset) >= 3 and not taskset.problems
    assert all(t.solvable and t.test_outputs is not None for t in taskset)


def test_to_json_round_trip(tmp_path, arc1_eval):
    task = arc1_eval["00576224"]
    again = load(write(tmp_path / "t.json", task.to_json()))["t"]
    assert np.array_equal(again.train[1][1], task.train[1][1])
    assert np.array_equal(again.test_outputs[0], task.test_outputs[0])
