"""Same results before and after a change: the primitive tasks solved at a fixed step count by two revisions.

    python -m benchmarks.same_results --base a95856d                  # the base revision against this checkout
    python -m benchmarks.same_results --base HEAD~3 --tasks 10 --steps 300 --out benchmarks/results/x.json

At a fixed number of steps (`ttt.max_steps`, time never binding) and one thread, the CPU is deterministic, so a
change that keeps the math must give every task the same steps, the same votes for its top candidates, the same
attempts and the same last training losses. Each revision runs in its own process with its own `arc_trm` (the
base one from a temporary `git worktree`); the tasks (benchmarks/primitive_tasks.json, first --tasks) and the
config (this checkout's configs/cpu.yaml, plus --set overrides) are the same for both; with --own-config each
revision reads its own configs/cpu.yaml (across a change of config keys with the same values).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "benchmarks/same_results.py"


def rows(tasks: int, steps: int, overrides: list[str], config_file: Path) -> dict:
    """Per task: steps, vote counts of the top candidates, a digest of the attempts, the last step's metrics
    (solved by whichever `arc_trm` this process imports)."""
    import torch

    try:
        from arc_trm.core import tasks as task_io
        from arc_trm.core.config import load_config
        from arc_trm.solve.config import SolveConfig
        from arc_trm.solve.records import RecordStore, records_dir
        from arc_trm.solve.run import solve
    except ImportError:  # a revision before the package layout (add5c82 and earlier): flat modules
        from arc_trm import tasks as task_io  # type: ignore[no-redef]
        from arc_trm.config import load_config  # type: ignore[no-redef]
        from arc_trm.records import RecordStore, records_dir  # type: ignore[no-redef]
        from arc_trm.solve import SolveConfig, solve  # type: ignore[no-redef]

    torch.set_num_threads(1)
    found = json.loads((ROOT / "benchmarks" / "primitive_tasks.json").read_text())
    chosen = [task_io.load(split)[task_id] for split, ids in found.items() for task_id in sorted(ids)][:tasks]
    config = load_config(
        SolveConfig,
        config_file,
        [f"ttt.max_steps={steps}", "task_seconds=100000", "device=cpu", *overrides],
    )
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        solve(task_io.TaskSet(chosen), Path(folder) / "submission.json", config, fresh=True)
        store = RecordStore(records_dir(Path(folder) / "submission.json"))
        for task in chosen:
            record = store.load(task.id)
            attempts = json.dumps(record["attempts"], sort_keys=True).encode()
            result[task.id] = {
                "steps": record.get("steps"),
                "votes": [[c["votes"] for c in top] for top in record["candidates"]],
                "attempts": hashlib.sha256(attempts).hexdigest()[:10],
                "metrics": record.get("train_metrics"),
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="the revision to compare this checkout with")
    parser.add_argument("--tasks", type=int, default=25, help="first N primitive tasks")
    parser.add_argument("--steps", type=int, default=300, help="training steps per task")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "same_results.json")
    parser.add_argument("--own-config", action="store_true", help="each revision reads its own configs/cpu.yaml")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "cpu.yaml", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(rows(args.tasks, args.steps, args.overrides, args.config)))
        return
    from benchmarks.revisions import describe, run_worker, worktree  # not in the worker: its arc_trm is another

    worker = ["--tasks", str(args.tasks), "--steps", str(args.steps)] + [f"--set={o}" for o in args.overrides]
    base = describe(args.base)
    config = ROOT / "configs" / "cpu.yaml"
    with worktree(args.base) as tree:
        before = run_worker(
            tree, SCRIPT, [*worker, f"--config={tree / config.relative_to(ROOT) if args.own_config else config}"]
        )
    after = run_worker(ROOT, SCRIPT, [*worker, f"--config={config}"])
    differ = sorted(t for t in before if before[t] != after.get(t))
    result = {
        "before": base,
        "after": describe(),
        "tasks": len(before),
        "steps": args.steps,
        "threads": 1,
        "overrides": args.overrides,
        "config": "each revision's own configs/cpu.yaml" if args.own_config else "this checkout's configs/cpu.yaml",
        "identical": not differ,
        "differ": differ,
        "before_rows": before,
        "after_rows": after,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"{base} -> {result['after']}: {len(before) - len(differ)} of {len(before)} tasks identical "
        f"({args.steps} steps each); {args.out}"
    )


if __name__ == "__main__":
    main()
