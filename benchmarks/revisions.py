"""Running a benchmark against another revision of the code: a temporary git worktree, and a worker process
that imports `arc_trm` from a given checkout and prints its result as the last line of JSON.

    with worktree("HEAD~2") as old:
        before = run_worker(old, "benchmarks/step_rate.py", ["--threads", "1"])
    after = run_worker(ROOT, "benchmarks/step_rate.py", ["--threads", "1"])
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def describe(rev: str = "HEAD") -> str:
    """The short hash of `rev`, and for HEAD a note when the working tree has uncommitted changes."""
    short = git("rev-parse", "--short", rev)
    dirty = rev == "HEAD" and git("status", "--porcelain", "--untracked-files=no")
    return short + (" plus uncommitted changes" if dirty else "")


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A checkout of `rev` in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "tree"
        git("worktree", "add", "--detach", "-q", str(tree), rev)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def run_worker(checkout: Path, script: str, args: list[str], threads: int = 1) -> dict:
    """Run this checkout's `script` with `--worker` and `args` in a process whose `arc_trm` is `checkout`'s and
    whose torch uses `threads` threads; its last line of output, as JSON."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, str(ROOT / script), "--worker", *args], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"{script} at {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
