"""The Kaggle submission file: build it complete, validate it, write it atomically, read it back.

Format: `{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...one per test input, in order]}`, grids as lists
of lists of ints 0-9. Every task of the input appears with both attempts for every test input; where nothing
usable was predicted, the attempt is a fallback (the test input itself, or [[0]] when it is unreadable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from arc_trm.core.io import write_json
from arc_trm.core.tasks import GridError, Task, grid_or_none, read_json, to_grid

ATTEMPTS = ("attempt_1", "attempt_2")


def fallback_grid(test_input: np.ndarray | None) -> np.ndarray:
    """The attempt used where nothing was predicted: a copy of the test input, or [[0]] when unreadable."""
    if test_input is None:
        return np.zeros((1, 1), dtype=np.uint8)
    return np.array(test_input, dtype=np.uint8)


def build(tasks: Iterable[Task], attempts: Mapping[str, Any]) -> dict:
    """A complete submission for `tasks`, in order, from {task_id: [(attempt_1, attempt_2) per test input]}.

    Attempts may be arrays or JSON grids; a task, position or attempt that is missing, None or not a valid
    grid gets the fallback for that test input.
    """
    submission = {}
    for task in tasks:
        entries = attempts.get(task.id)
        entries = entries if isinstance(entries, (list, tuple)) else []
        submission[task.id] = [
            _entry(entries[i] if i < len(entries) else None, fallback_grid(test_input))
            for i, test_input in enumerate(task.test_inputs)
        ]
    return submission


def _entry(pair: Any, fallback: np.ndarray) -> dict:
    """One {"attempt_1", "attempt_2"} entry from a pair (or an entry dict), with fallbacks filled in."""
    if isinstance(pair, Mapping):
        pair = [pair.get(key) for key in ATTEMPTS]
    values = list(pair) if isinstance(pair, (list, tuple)) else []
    return {key: _json_grid(value, fallback) for key, value in zip(ATTEMPTS, values + [None, None])}


def _json_grid(value: Any, fallback: np.ndarray) -> list[list[int]]:
    """A grid in JSON form (validated), or the fallback's."""
    grid = grid_or_none(value)
    return (fallback if grid is None else grid).tolist()


def validate(submission: Any, tasks: Iterable[Task]) -> list[str]:
    """Everything wrong with a submission for `tasks`, each naming task id and position; [] when valid."""
    if not isinstance(submission, dict):
        return [f"submission is not a JSON object mapping task ids to entries (got {type(submission).__name__})"]
    tasks = list(tasks)
    problems = []
    for task in tasks:
        if task.id not in submission:
            problems.append(f"{task.id}: missing task")
        else:
            problems += _validate_task(task.id, submission[task.id], len(task.test_inputs))
    known = {task.id for task in tasks}
    problems += [f"{task_id}: extra task not in the input" for task_id in submission if task_id not in known]
    return problems


def _validate_task(task_id: str, entries: Any, n_test: int) -> list[str]:
    if not isinstance(entries, list):
        return [f"{task_id}: expected a list of {n_test} entries, got {type(entries).__name__}"]
    problems = []
    if len(entries) != n_test:
        problems.append(f"{task_id}: expected {n_test} entries (one per test input), got {len(entries)}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"{task_id}[{i}]: not an object with attempt_1 and attempt_2")
            continue
        for key in ATTEMPTS:
            if key not in entry:
                problems.append(f"{task_id}[{i}]: missing {key}")
                continue
            try:
                to_grid(entry[key])
            except GridError as err:
                problems.append(f"{task_id}[{i}].{key}: {err}")
    return problems


def write(submission: dict, path: str | Path) -> Path:
    """Write a submission atomically (temp file + rename, parent folders created); returns the path."""
    return write_json(submission, path)


def read(path: str | Path) -> dict:
    """Read a submission file; ValueError naming the file when it cannot be read or is not a JSON object."""
    data, problem = read_json(Path(path))
    if problem:
        raise ValueError(str(problem))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object mapping task ids to entries, got {type(data).__name__}")
    return data


def repair(path: str | Path, tasks: Iterable[Task]) -> list[str]:
    """Make the submission at `path` valid for `tasks`: what is missing, malformed or unreadable gets its
    fallback, the valid attempts stay. Returns the problems it had ([]: valid, left untouched)."""
    tasks = list(tasks)
    try:
        current = read(path)
    except ValueError as err:
        current, problems = {}, [str(err)]
    else:
        problems = validate(current, tasks)
    if problems:
        write(build(tasks, current), path)
    return problems
