"""Records: the layout, save/load round trips, atomic files, odd task ids, and surviving a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from arc_trm.core.tasks import Task, load
from arc_trm.solve.records import (
    RecordStore,
    attempts_of,
    check_record,
    file_name,
    make_record,
    problems_path,
    records_dir,
)


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    """Real ARC-AGI-1 evaluation tasks, one with two test inputs."""
    taskset = load("arc1-eval")
    return [t for t in taskset if len(t.test_inputs) == 1][:3] + [t for t in taskset if len(t.test_inputs) == 2][:1]


def record_for(task: Task, status: str = "predicted") -> dict:
    """A record as solve would make it: the test input and its transpose as attempts, numpy values inside."""
    attempts = [(grid, grid.T) for grid in task.test_inputs]
    candidates = [
        [
            {"grid": grid, "votes": np.int64(5), "mean_confidence": np.float32(0.75)},
            {"grid": grid.T, "votes": 2, "mean_confidence": 0.5},
        ]
        for grid in task.test_inputs
    ]
    timings = {"train": np.float64(12.5), "rollout": 1.25}
    config = {"lr": 1e-4, "steps": 200, "canvas": np.int64(17)}
    return make_record(task.id, attempts, candidates, timings, config, status)


# ---------------------------------------------------------------------------------------------- layout


def test_make_record_layout(tasks):
    task = tasks[3]
    record = record_for(task)
    assert set(record) == {"task_id", "status", "attempts", "candidates", "timings", "config"}
    assert record["task_id"] == task.id and record["status"] == "predicted"
    assert len(record["attempts"]) == 2 and record["attempts"][0][0] == task.test_inputs[0].tolist()
    best = record["candidates"][1][0]
    assert best == {"grid": task.test_inputs[1].tolist(), "votes": 5, "mean_confidence": 0.75}
    assert type(best["votes"]) is int and type(record["timings"]["train"]) is float
    assert record["config"] == {"lr": 1e-4, "steps": 200, "canvas": 17}
    assert json.loads(json.dumps(record)) == record  # plain JSON already


def test_attempts_of_converts_back(tasks):
    task = tasks[3]
    pairs = attempts_of(record_for(task))
    assert len(pairs) == 2
    for (a1, a2), grid in zip(pairs, task.test_inputs):
        assert a1.dtype == np.uint8 and np.array_equal(a1, grid) and np.array_equal(a2, grid.T)


def test_make_record_rejects_bad_values():
    with pytest.raises(ValueError, match="status"):
        make_record("t", [], [], {}, {}, "done")
    with pytest.raises(ValueError, match="valid grid"):
        make_record("t", [([[1, 2], [3]], [[0]])], [], {}, {}, "predicted")
    with pytest.raises(ValueError, match="valid grid"):
        make_record("t", [([[12]], [[0]])], [], {}, {}, "predicted")
    assert make_record("t", [], [], {}, {}, "skipped")["attempts"] == []


def test_check_record():
    good = make_record("t", [([[1]], [[2]])], [], {}, {}, "fallback")
    assert check_record(good) is None
    assert "JSON object" in check_record([])
    assert "task_id" in check_record({**good, "task_id": ""})
    assert "pairs" in check_record({**good, "attempts": [[[[1]]]]})


def test_paths_beside_the_submission(tmp_path):
    out = tmp_path / "out" / "submission.json"
    assert records_dir(out) == tmp_path / "out" / "submission.json.records"
    assert problems_path(out) == tmp_path / "out" / "submission.problems.json"
    assert records_dir("submission.json") == Path("submission.json.records")
    assert problems_path("/kaggle/working/submission.json") == Path("/kaggle/working/submission.problems.json")


# ---------------------------------------------------------------------------------------------- the store


def test_round_trip(tmp_path, tasks):
    store = RecordStore(tmp_path / "records")
    assert len(store) == 0 and store.load_all() == {} and store.load(tasks[0].id) is None
    for task in tasks:
        path = store.save(record_for(task))
        assert path == tmp_path / "records" / f"{task.id}.json"
    assert len(store) == len(tasks) and tasks[0].id in store and "nope" not in store
    loaded = store.load_all()
    assert list(loaded) == sorted(t.id for t in tasks) and store.problems == []
    for task in tasks:
        assert loaded[task.id] == store.load(task.id) == record_for(task)
        for (a1, _), grid in zip(attempts_of(loaded[task.id]), task.test_inputs):
            assert np.array_equal(a1, grid)


def test_save_replaces_and_leaves_no_temp_files(tmp_path, tasks):
    store = RecordStore(tmp_path)
    task = tasks[0]
    store.save(record_for(task, "fallback"))
    store.save(record_for(task, "predicted"))
    assert store.load(task.id)["status"] == "predicted"
    assert [p.name for p in tmp_path.iterdir()] == [f"{task.id}.json"]


def test_save_rejects_bad_records(tmp_path):
    store = RecordStore(tmp_path)
    with pytest.raises(ValueError, match="task_id"):
        store.save({"status": "predicted", "attempts": []})
    assert list(tmp_path.iterdir()) == []


def test_corrupt_files_are_reported_and_ignored(tmp_path, tasks):
    store = RecordStore(tmp_path)
    for task in tasks[:2]:
        store.save(record_for(task))
    whole = store.path(tasks[1].id).read_text()
    store.path(tasks[1].id).write_text(whole[: len(whole) // 2])  # half a file
    (tmp_path / "garbage.json").write_bytes(b"\xff\xfe not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "moved.json").write_text(whole)  # a whole record under another task's name
    (tmp_path / ".x.json.abc.tmp").write_text("{")  # a temp file left by a kill
    loaded = store.load_all()
    assert list(loaded) == [tasks[0].id]
    assert len(store.problems) == 4
    text = "\n".join(str(p) for p in store.problems)
    for name in (f"{tasks[1].id}.json", "garbage.json", "list.json", "moved.json"):
        assert name in text
    assert "not valid JSON" in text and "ignored" in text
    assert store.load(tasks[1].id) is None and tasks[1].id not in store and len(store) == 1


def test_clear(tmp_path, tasks):
    folder = tmp_path / "submission.json.records"
    store = RecordStore(folder)
    store.clear()  # no folder yet: nothing to do
    for task in tasks:
        store.save(record_for(task))
    (folder / ".a.json.x.tmp").write_text("{")
    store.clear()
    assert not folder.exists() and len(store) == 0 and store.load_all() == {}
    store.save(record_for(tasks[0]))
    (folder / "notes.txt").write_text("someone else's file")
    store.clear()
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    "task_id",
    ["AboveBelow1", "00576224", "a/b", "../escape", "..", ".", ".hidden", "a\\b", "sp ace", "ü", "x" * 300],
)
def test_odd_task_ids_stay_inside_the_folder(tmp_path, task_id):
    folder = tmp_path / "records"
    store = RecordStore(folder)
    path = store.save(make_record(task_id, [([[1]], [[2]])], [], {}, {}, "predicted"))
    assert path.parent == folder and path.name.endswith(".json") and not path.name.startswith(".")
    assert len(path.name) <= 120
    assert store.load(task_id)["task_id"] == task_id and list(store.load_all()) == [task_id]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def test_file_names_are_distinct_and_plain_ids_kept():
    assert file_name("AboveBelow1") == "AboveBelow1.json" and file_name("00576224") == "00576224.json"
    ids = ["a/b", "a_b", "a\\b", "a b", "../a", "__a", "..", "_.", "x" * 300, "x" * 301]
    assert len({file_name(i) for i in ids}) == len(ids)


def test_concept_ids(tmp_path):
    ids = [t.id for t in load("concept")][:5]
    store = RecordStore(tmp_path)
    for task_id in ids:
        store.save(make_record(task_id, [], [], {}, {}, "skipped"))
    assert sorted(store.load_all()) == sorted(ids)


# ---------------------------------------------------------------------------------------------- SIGKILL


WRITER = textwrap.dedent(
    """
    import sys
    from arc_trm.solve.records import RecordStore, make_record

    store = RecordStore(sys.argv[1])
    grid = [[i % 10 for i in range(30)] for _ in range(30)]
    config = {"padding": "x" * 4_000_000}  # makes each write take a while
    for i in range(10_000):
        store.save(make_record(f"task{i:05d}", [(grid, grid)] * 3, [], {"train": float(i)}, config, "predicted"))
        print(i, flush=True)
    """
)


def test_sigkill_mid_run_leaves_only_complete_records(tmp_path):
    folder = tmp_path / "records"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(3):  # let a few records finish, timing one write
            start = time.monotonic()
            assert proc.stdout.readline(), "the writer stopped early"
        time.sleep((time.monotonic() - start) / 2)  # then kill it, most likely in the middle of a write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    store = RecordStore(folder)
    loaded = store.load_all()
    assert store.problems == []
    assert len(loaded) >= 3
    assert sorted(loaded) == [f"task{i:05d}" for i in range(len(loaded))]  # in order, none half-written
    for record in loaded.values():
        assert len(record["config"]["padding"]) == 4_000_000 and len(attempts_of(record)) == 3
