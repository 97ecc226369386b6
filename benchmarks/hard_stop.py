"""What the hard deadline costs and keeps: `arc-trm solve --time-budget` with a worker that hangs or dies.

    python -m benchmarks.hard_stop [--budget 60] [--tasks 120] [--out DIR]

Runs the real CLI on the first N arc1-eval tasks (a Kaggle challenges file) with two workers and a budget,
twice: once SIGSTOPping one worker a few seconds in (it hangs holding its task: only the supervisor's hard
stop can end the run in time), once SIGKILLing one worker after the first records land. Measures the
command's wall time from start to exit and writes benchmarks/results/hard_stop.json: per case the budget, the
wall time, the overrun (wall - budget; negative: it ended early), how long the stop itself took (wall - (budget
- STOP_MARGIN)), tasks with a record, records lost (finished before the kill, missing after: must be 0) and
whether the submission was complete and valid.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arc_trm.core import devices, submission, tasks
from arc_trm.solve.records import RecordStore, records_dir
from arc_trm.solve.run import WORKER_NAME
from arc_trm.solve.schedule import STOP_MARGIN

ROOT = Path(__file__).resolve().parent.parent


def worker_pids(parent: int) -> list[int]:
    """The solve workers among a process's children, from /proc (by the name they give themselves: not the
    process that measures step times before them)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat, comm = (entry / "stat").read_text(), (entry / "comm").read_text().strip()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and comm == WORKER_NAME:
            found.append(int(entry.name))
    return sorted(found)


def run_case(case: str, challenges: Path, budget: float, folder: Path) -> dict:
    out = folder / case / "submission.json"
    command = [
        sys.executable,
        "-m",
        "arc_trm_cli",
        "solve",
        str(challenges),
        "--out",
        str(out),
        "-q",
        "--time-budget",
        f"{budget:g}s",
        "--workers",
        "2",
        "--set",
        "device=cpu",
    ]
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    while len(pids := worker_pids(process.pid)) < 2 and time.monotonic() - start < 60:
        time.sleep(0.1)
    store = RecordStore(records_dir(out))
    finished: set[str] = set()
    if case == "hung":
        time.sleep(3)
        os.kill(pids[0], signal.SIGSTOP)
    else:
        while not (finished := set(store.load_all())) and time.monotonic() - start < budget:
            time.sleep(0.2)
        os.kill(pids[0], signal.SIGKILL)
    output, _ = process.communicate()
    wall = time.monotonic() - start
    taskset = tasks.load(challenges)
    records = store.load_all()
    return {
        "case": case,
        "budget": budget,
        "wall": round(wall, 2),
        "overrun": round(wall - budget, 2),
        "stop_seconds": round(wall - (budget - STOP_MARGIN), 2),
        "returncode": process.returncode,
        "tasks": len(taskset),
        "records": len(records),
        "lost": len(finished - set(records)),
        "valid": submission.validate(submission.read(out), taskset) == [],
        "stopped_by_deadline": "hard deadline" in output,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--tasks", type=int, default=120, help="the first N arc1-eval tasks")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        challenges = Path(tmp) / "challenges.json"
        chosen = tasks.load("arc1-eval").tasks[: args.tasks]
        challenges.write_text(json.dumps({t.id: t.to_json() for t in chosen}))
        rows = [run_case(case, challenges, args.budget, Path(tmp)) for case in ("hung", "killed")]
    result = {"benchmark": "hard_stop", "stop_margin": STOP_MARGIN, "cores": devices.cores(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hard_stop.json").write_text(json.dumps(result, indent=1))
    for row in rows:
        print(json.dumps(row))
    return result


if __name__ == "__main__":
    main()
