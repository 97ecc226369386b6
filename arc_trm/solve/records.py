"""Per-task results saved as they finish, so that a stopped run resumes where it was.

Beside a submission `out/submission.json` lies `out/submission.json.records/`, one JSON file per task
(`<task_id>.json`, the id made safe for a file name; the record holds the real id), each written atomically:
after a crash or SIGKILL every file there is a complete record, and a file that is not (copied in half,
edited by hand) is reported and ignored, never raised. Problems met while reading go to `store.problems`.

A record (see `make_record`): {"task_id", "status", "attempts": [[attempt_1, attempt_2] per test input],
"candidates": [[{"grid", "votes", "mean_confidence"}, ...] per test input], "timings": {name: seconds},
"config": {...}}, grids as lists of lists of ints.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from arc_trm.core.io import write_json
from arc_trm.core.tasks import GridError, Problem, read_json, to_grid


class Status(str, Enum):
    """How a task's record ended (saved as its value: JSON keeps plain strings; a str, so it compares equal)."""

    PREDICTED = "predicted"  # every test input answered by the vote
    FALLBACK = "fallback"  # ran to its end, but some test input had no decodable candidate (its input stands in)
    FAILED = "failed"  # an error, or out of memory at the smallest size: the fallback grids
    SKIPPED = "skipped"  # not worked on (out of time, nothing to solve, dropped by the plan): the fallback grids


STATUSES = tuple(status.value for status in Status)
_MAX_NAME = 100

# ---------------------------------------------------------------------------------------------- paths


def records_dir(out_path: str | Path) -> Path:
    """The records folder beside a submission: submission.json -> submission.json.records/."""
    out = Path(out_path)
    return out.with_name(out.name + ".records")


def problems_path(out_path: str | Path) -> Path:
    """The problems file beside a submission: submission.json -> submission.problems.json."""
    out = Path(out_path)
    return out.with_name(out.stem + ".problems.json")


def file_name(task_id: str) -> str:
    """A safe file name for a task id: the id itself when it is plain (letters, digits, '_', '-', inner '.'),
    else a cleaned form plus a hash of the id, so that different ids never share a file and none escapes."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", task_id)
    clean = "_" + clean[1:] if clean.startswith(".") else clean
    if clean != task_id or not clean or len(clean) > _MAX_NAME:
        digest = hashlib.sha1(task_id.encode("utf-8")).hexdigest()[:12]
        clean = f"{clean[:_MAX_NAME]}-{digest}"
    return clean + ".json"


# ---------------------------------------------------------------------------------------------- layout


def make_record(
    task_id: str,
    attempts: Sequence[Sequence[Any]],
    candidates: Sequence[Sequence[Mapping[str, Any]]],
    timings: Mapping[str, float],
    config: Mapping[str, Any],
    status: Status | str,
) -> dict:
    """A record in plain JSON form (numpy arrays and scalars become lists and numbers, also inside `config`).

    `attempts`: per test input, [attempt_1, attempt_2]; `candidates`: per test input, a list of
    {"grid", "votes", "mean_confidence"}; `timings`: seconds by phase; `status`: a Status (or its value).
    """
    record = {
        "task_id": task_id,
        "status": status.value if isinstance(status, Status) else status,  # checked below
        "attempts": [[_plain(a1), _plain(a2)] for a1, a2 in attempts],
        "candidates": [[_candidate(c) for c in per_input] for per_input in candidates],
        "timings": {name: float(seconds) for name, seconds in timings.items()},
        "config": _plain(config),
    }
    reason = check_record(record)
    if reason:
        raise ValueError(f"bad record for task {task_id!r}: {reason}")
    return record


def attempts_of(record: Mapping[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The record's attempts as (attempt_1, attempt_2) uint8 arrays, one pair per test input."""
    return [(to_grid(a1), to_grid(a2)) for a1, a2 in record["attempts"]]


def check_record(record: Any) -> str | None:
    """Why a value is not a usable record, or None when it is one."""
    if not isinstance(record, dict):
        return f"not a JSON object (got {type(record).__name__})"
    if not isinstance(record.get("task_id"), str) or not record["task_id"]:
        return "no task_id"
    if record.get("status") not in STATUSES:
        return f"status {record.get('status')!r} is not one of {', '.join(STATUSES)}"
    attempts = record.get("attempts")
    if not isinstance(attempts, list) or not all(isinstance(p, list) and len(p) == 2 for p in attempts):
        return "attempts is not a list of [attempt_1, attempt_2] pairs"
    try:
        attempts_of(record)
    except GridError as err:
        return f"an attempt is not a valid grid: {err}"
    return None


def _plain(value: Any) -> Any:
    """JSON form of a value that may hold numpy arrays and scalars (in dicts, lists and tuples)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _candidate(candidate: Mapping[str, Any]) -> dict:
    return {
        "grid": _plain(candidate["grid"]),
        "votes": int(candidate["votes"]),
        "mean_confidence": float(candidate["mean_confidence"]),
    }


# ---------------------------------------------------------------------------------------------- the store


class RecordStore:
    """Task records in a folder, one atomically written JSON file each (the folder is made on first save)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.problems: list[Problem] = []

    def path(self, task_id: str) -> Path:
        """The file of a task's record."""
        return self.folder / file_name(task_id)

    def save(self, record: Mapping[str, Any]) -> Path:
        """Write a record (it names its task in "task_id") atomically; ValueError for a malformed one."""
        reason = check_record(record)
        if reason:
            raise ValueError(f"not saving a bad record: {reason}")
        return write_json(record, self.path(record["task_id"]))

    def load(self, task_id: str) -> dict | None:
        """The task's record, or None when there is none (or it is unusable: then also in `problems`)."""
        path = self.path(task_id)
        if not path.exists():
            return None
        record, problem = self._read(path, task_id)
        if problem:
            self.problems.append(problem)
        return record

    def load_all(self) -> dict[str, dict]:
        """Every usable record by task id; `problems` is reset to the files that were skipped and why."""
        records, self.problems = self._scan()
        return records

    def clear(self) -> None:
        """Delete every record (and leftover temp file and work claim) of this store, then the folder if it is
        empty."""
        if not self.folder.is_dir():
            return
        for path in [*self.folder.glob("*.json"), *self.folder.glob(".*.json.*.tmp")]:
            path.unlink(missing_ok=True)
        shutil.rmtree(self.folder / "claims", ignore_errors=True)
        if not any(self.folder.iterdir()):
            self.folder.rmdir()

    def __contains__(self, task_id: object) -> bool:
        return isinstance(task_id, str) and self._read(self.path(task_id), task_id)[0] is not None

    def __len__(self) -> int:
        return len(self._scan()[0])

    def __repr__(self) -> str:
        return f"<RecordStore {self.folder} | {len(self)} record(s)>"

    def _scan(self) -> tuple[dict[str, dict], list[Problem]]:
        records, problems = {}, []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            record, problem = self._read(path)
            if problem:
                problems.append(problem)
            elif record is not None:
                records[record["task_id"]] = record
        return records, problems

    def _read(self, path: Path, task_id: str | None = None) -> tuple[dict | None, Problem | None]:
        """A record file's usable record, or a Problem saying why not (None, None: no file)."""
        if not path.exists():
            return None, None
        data, problem = read_json(path)
        if problem:
            return None, Problem(problem.file, task_id, "record", f"{problem.reason}; ignored")
        reason = check_record(data)
        if reason is None and file_name(data["task_id"]) != path.name:
            reason = f"holds task {data['task_id']!r}, which belongs in {file_name(data['task_id'])}"
        if reason:
            return None, Problem(str(path), task_id, "record", f"{reason}; ignored")
        return data, None
