"""Atomic file writes: a temp file in the same folder, flushed and fsynced, then renamed over the target.

A reader (or a run resumed after a crash or SIGKILL) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temp file beside `path` for writing; on a clean exit it replaces `path`, on error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(text: str, path: str | Path) -> Path:
    """Write text atomically; returns the path."""
    with atomic_open(path) as f:
        f.write(text)
    return Path(path)


def write_json(data: Any, path: str | Path, indent: int | None = None) -> Path:
    """Write JSON atomically (numpy arrays and scalars become lists and numbers); returns the path."""
    with atomic_open(path) as f:
        json.dump(data, f, default=_jsonable, indent=indent)
    return Path(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
