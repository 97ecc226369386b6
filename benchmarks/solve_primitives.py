"""How well `solve` learns: solve rate on the ARC-AGI-1 tasks one primitive solves, against time per task.

    python -m benchmarks.solve_primitives --seconds 15,45,90 [--workers W] [--limit N] [--tasks ID,ID]
        [--set ttt.lr=3e-3] [--out DIR]

Runs the default CPU config (configs/cpu.yaml) with `task_seconds` set to each budget, scores pass@2 against
the truth, prints a table and writes benchmarks/results/solve_primitives.json (or DIR/...).

`--workers W` runs W tasks at a time, each in its own process with 1/W of the cores and W times the seconds
(`solve --workers W`): the same machine time per task, spent with fewer threads per model, which small models
use better than a thread pool split over one model.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from arc_trm.core import submission, tasks
from arc_trm.core.config import load_config, to_dict
from arc_trm.eval import scoring
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.run import solve

ROOT = Path(__file__).resolve().parent.parent
PRIMITIVES = Path(__file__).resolve().parent / "primitive_tasks.json"


def primitive_tasks(limit: int | None = None, only: list[str] | None = None) -> tasks.TaskSet:
    """The primitive-solvable tasks of both ARC-AGI-1 splits, in a fixed order, with their solutions (the
    first `limit`, or those in `only`)."""
    found = json.loads(PRIMITIVES.read_text())
    chosen = [tasks.load(split)[task_id] for split, ids in found.items() for task_id in sorted(ids)]
    if only:
        if unknown := set(only) - {task.id for task in chosen}:
            raise ValueError(f"not primitive tasks: {sorted(unknown)}")
        chosen = [task for task in chosen if task.id in only]
    return tasks.TaskSet(chosen[:limit] if limit else chosen)


def run(
    seconds: list[float],
    limit: int | None,
    overrides: list[str],
    out: Path,
    only: list[str] | None = None,
    workers: int = 1,
) -> dict:
    taskset = primitive_tasks(limit, only)
    found = {tid: prim for ids in json.loads(PRIMITIVES.read_text()).values() for tid, prim in ids.items()}
    rows = []
    for budget in seconds:
        cfg = load_config(SolveConfig, ROOT / "configs" / "cpu.yaml", [f"task_seconds={budget * workers}", *overrides])
        path = out / f"primitives_{int(budget)}s{f'_{workers}workers' if workers > 1 else ''}" / "submission.json"
        start = time.monotonic()
        report = solve(taskset, path, cfg, fresh=True, workers=workers)
        scores = scoring.score(submission.read(path), taskset.solutions())
        solved = [row.task_id for row in scores.rows if row.fraction == 1]
        rows.append(
            {
                "seconds_per_task": budget,
                "workers": workers,
                "task_wall_seconds": budget * workers,
                "tasks": len(taskset),
                "solved": len(solved),
                "rate": scores.macro,
                "wall_seconds": time.monotonic() - start,
                "mean_steps": sum(r.record.get("steps", 0) for r in report.results) / len(taskset),
                "solved_ids": solved,
                "unsolved": {tid: found[tid] for tid in taskset.ids if tid not in solved},
            }
        )
        print(
            f"{budget:>6.0f}s/task: {len(solved)}/{len(taskset)} solved ({100 * scores.macro:.0f}%), "
            f"{rows[-1]['mean_steps']:.0f} steps per task on average",
            flush=True,
        )
    return {"benchmark": "solve_primitives", "machine": _machine(), "config": to_dict(cfg), "rows": rows}


def _machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", default="15,45,90", help="comma-separated seconds per task")
    parser.add_argument("--workers", type=int, default=1, help="tasks at a time, each with 1/W of the cores")
    parser.add_argument("--limit", type=int, default=None, help="only the first N primitive tasks")
    parser.add_argument("--tasks", default=None, help="comma-separated task ids (default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    only = args.tasks.split(",") if args.tasks else None
    result = run([float(s) for s in args.seconds.split(",")], args.limit, args.overrides, args.out, only, args.workers)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "solve_primitives.json").write_text(json.dumps(result, indent=1))
    print("\n| seconds per task | solved | rate | mean steps |\n|---|---|---|---|")
    for row in result["rows"]:
        print(
            f"| {row['seconds_per_task']:.0f} | {row['solved']}/{row['tasks']} | {100 * row['rate']:.0f}% "
            f"| {row['mean_steps']:.0f} |"
        )


if __name__ == "__main__":
    main()
