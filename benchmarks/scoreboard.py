"""The scoreboard: what `arc-trm solve` scores on seeded samples of real evaluation tasks, by one protocol.

    python -m benchmarks.scoreboard                         # the CPU default: 30 arc1-eval + 20 concept tasks,
                                                            # 45 s of the machine each (2 workers x 90 s)
    python -m benchmarks.scoreboard --steps 1000 --name steps1000     # a fixed step count instead of time
    python -m benchmarks.scoreboard --splits arc1-eval:30,concept:20,arc2-eval:20 --name with-arc2
    python -m benchmarks.scoreboard --set ttt.lr=3e-3 --name lr3e-3   # a candidate default
    python -m benchmarks.scoreboard --compare benchmarks/results/scoreboard.json \
        benchmarks/results/scoreboard_lr3e-3.json
    python -m benchmarks.scoreboard --smoke --out /tmp/smoke          # CI: two tiny tasks, a few steps
    python -m benchmarks.scoreboard --rescore benchmarks/results/scoreboard.json   # re-read its run folders

The protocol. Each split's sample is drawn in code (`sample`: seed 0, the split's ids sorted, then a draw without
replacement) and printed. Each split is solved by the product path, one `arc-trm evaluate` run per split in its
own run folder (runs/scoreboard/NAME/SPLIT: submission, records, scores.json, report.html). Every task gets the
same share of the machine: `--seconds` (45, the CPU default's `task_seconds`) of the whole machine, spent as the
README recommends on a CPU, by `--workers` (2) one-thread workers each given `seconds x workers` of wall time;
or, with `--steps N`, exactly N training steps whatever the machine's speed (deterministic on the CPU).

The result, benchmarks/results/scoreboard_NAME.json (scoreboard.json for the default), holds per split: pass@2
macro and micro with 95% Wilson intervals, tasks solved, the failure classes' counts, wall and machine seconds;
per task: status, steps, canvas, versions, the training batch's exact share, top votes, and each test input's
class (`classify`); and the config, commit, machine and samples.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from arc_trm.core import devices, tasks
from arc_trm.core.config import load_config, to_dict
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.records import RecordStore, records_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
RUNS = ROOT / "runs" / "scoreboard"
DEFAULT_SPLITS = "arc1-eval:30,concept:20"
NO_TIME_LIMIT = 24 * 3600.0  # task_seconds under --steps: the step count ends training, never the clock
SCATTERED = 0.25  # a top grid with fewer than this share of the voting versions' votes: "votes scattered"
SMOKE = {
    "splits": {"arc1-eval": ["66e6c45b"], "concept": ["HorizontalVertical9"]},
    "overrides": ["ttt.versions=8"],
    "steps": 20,
}

# Failure classes of one test input, in the order they are decided (the first that applies).
CLASSES = {
    "solved_1": "solved by attempt 1",
    "solved_2": "solved by attempt 2",
    "nothing_decoded": "no version decoded to a grid (the fallback was submitted)",
    "ranked_3_or_lower": "the right grid was a candidate, ranked 3rd or lower",
    "canvas_too_small": "the right grid does not fit the task's canvas (the size rule guessed too small)",
    "wrong_shape": "the top grid has the wrong shape",
    "votes_scattered": f"right shape, wrong cells, the top grid under {SCATTERED:.0%} of the votes",
    "wrong_cells": f"right shape, wrong cells, the top grid with {SCATTERED:.0%} of the votes or more",
}


# ---------------------------------------------------------------------------------------------- protocol


def sample(split: str, n: int, seed: int = 0) -> list[str]:
    """`n` task ids of `split` drawn without replacement (all of them when it has fewer), in drawn order."""
    ids = sorted(tasks.load(split).ids)
    rng = np.random.default_rng(seed)
    return [ids[i] for i in rng.permutation(len(ids))[:n]]


def evaluate_command(
    split: str, ids: list[str], run_dir: Path, overrides: list[str], workers: int, config: Path | None, resume: bool
) -> list[str]:
    """The `arc-trm evaluate` command line that solves and scores one split's sample."""
    command = [
        sys.executable,
        "-m",
        "arc_trm_cli",
        "evaluate",
        split,
        "--ids",
        ",".join(ids),
        "--out",
        str(run_dir),
        "--workers",
        str(workers),
        "--quiet",
    ]
    command += ["--config", str(config)] if config else []
    command += [] if resume else ["--fresh"]
    for override in overrides:
        command += ["--set", override]
    return command


def protocol_overrides(seconds: float, steps: int | None, workers: int) -> list[str]:
    """The overrides that give every task its share: `seconds` of the machine, or exactly `steps` steps."""
    if steps is not None:
        return [f"ttt.max_steps={steps}", f"task_seconds={NO_TIME_LIMIT}"]
    return [f"task_seconds={seconds * workers}"]


def run(
    splits: dict[str, list[str]],
    name: str,
    seconds: float,
    steps: int | None,
    workers: int,
    overrides: list[str],
    config: Path | None,
    runs: Path,
    resume: bool,
) -> dict:
    """Evaluate each split's sample by the product path and collect the scoreboard."""
    overrides = [*protocol_overrides(seconds, steps, workers), *overrides]
    resolved = load_config(SolveConfig, config or ROOT / "configs" / "cpu.yaml", overrides)
    result = {
        "benchmark": "scoreboard",
        "name": name,
        "date": datetime.date.today().isoformat(),
        "commit": _commit(),
        "machine": _machine(),
        "protocol": {
            "machine_seconds_per_task": None if steps else seconds,
            "steps": steps,
            "workers": workers,
            "threads_per_worker": max(1, devices.cores() // workers),
            "task_seconds": resolved.task_seconds,
            "overrides": overrides,
            "config_file": str(config or "configs/cpu.yaml"),
        },
        "config": to_dict(resolved),
        "classes": CLASSES,
        "splits": {},
    }
    for split, ids in splits.items():
        run_dir = runs / name / split
        print(f"{split}: {len(ids)} tasks: {' '.join(ids)}", flush=True)
        start = time.monotonic()
        done = subprocess.run(evaluate_command(split, ids, run_dir, overrides, workers, config, resume), cwd=ROOT)
        wall = time.monotonic() - start
        if done.returncode != 0:
            raise SystemExit(f"{split}: arc-trm evaluate exited with {done.returncode}")
        result["splits"][split] = split_result(split, ids, run_dir, wall, result["machine"]["cores"])
        print(summary_line(split, result["splits"][split]), flush=True)
    return result


# ---------------------------------------------------------------------------------------------- reading a run


def split_result(split: str, ids: list[str], run_dir: Path, wall: float, cores: int) -> dict:
    """A split's scores, counts and per-task rows from its run folder."""
    scores = json.loads((run_dir / "scores.json").read_text())
    rows = read_rows(run_dir, tasks.load(run_dir / "tasks.json"), ids)
    classes = Counter(test["class"] for row in rows for test in row["tests"])
    return {
        "samples": ids,
        "run_dir": str(run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir),
        **{
            k: scores[k]
            for k in ("macro", "micro", "macro_ci", "micro_ci", "n_tasks", "n_test", "n_correct", "n_tasks_solved")
        },
        "classes": {name: classes.get(name, 0) for name in CLASSES},
        "top_is_input": sum(test["top_is_input"] for row in rows for test in row["tests"]),
        "mean_steps": float(np.mean([row["steps"] for row in rows])),
        "wall_seconds": wall,
        "machine_seconds": wall * cores,
        "mean_task_seconds": float(np.mean([row["seconds"] for row in rows])),
        "tasks": rows,
    }


def read_rows(run_dir: Path, taskset: tasks.TaskSet, ids: list[str]) -> list[dict]:
    """The rows of `ids` from an `arc-trm evaluate` run folder: its records and its scores.json's counts."""
    records = RecordStore(records_dir(run_dir / "submission.json")).load_all()
    scores = json.loads((run_dir / "scores.json").read_text())
    correct = {row["task_id"]: row["n_correct"] for row in scores["tasks"]}
    return [task_row(taskset[tid], records.get(tid, {}), correct[tid]) for tid in ids]


def task_row(task: tasks.Task, record: dict, n_correct: int) -> dict:
    """One task's row: what its record says, and each test input's class."""
    candidates = record.get("candidates") or [[] for _ in task.test_inputs]
    attempts = record.get("attempts") or [[None, None] for _ in task.test_inputs]
    voters = record.get("voted_versions", 0)
    canvas = record.get("canvas", 0)
    return {
        "task_id": task.id,
        "status": record.get("status", "missing"),
        "reason": record.get("reason"),
        "n_test": len(task.test_inputs),
        "n_correct": n_correct,
        "solved": n_correct == len(task.test_inputs),
        "steps": record.get("steps", 0),
        "canvas": canvas,
        "versions": record.get("versions", 0),
        "voted_versions": voters,
        "train_exact": record.get("train_metrics", {}).get("exact"),
        "seconds": record.get("timings", {}).get("total", 0.0),
        "tests": [
            classify(truth, cands, atts, canvas, voters, grid)
            for truth, cands, atts, grid in zip(task.test_outputs, candidates, attempts, task.test_inputs)
        ],
    }


def classify(
    truth: np.ndarray,
    candidates: list[dict],
    attempts: list,
    canvas: int,
    voters: int,
    test_input: np.ndarray | None = None,
) -> dict:
    """One test input's outcome: its class (CLASSES), the right grid's rank among the saved candidates (None if
    absent), the top votes, the top grid's shape, its share of wrong cells when its shape is right, and whether
    it is the test input unchanged (the network answered "copy")."""
    grids = [np.asarray(c["grid"]) for c in candidates]
    rank = next((i + 1 for i, g in enumerate(grids) if np.array_equal(g, truth)), None)
    top = grids[0] if grids else None
    share = candidates[0]["votes"] / voters if candidates and voters else 0.0
    same_shape = top is not None and top.shape == truth.shape
    if _same(attempts[0], truth):  # as scoring counts it, a fallback that happens to be right included
        name = "solved_1"
    elif _same(attempts[1], truth):
        name = "solved_2"
    elif not candidates:
        name = "nothing_decoded"
    elif rank is not None:
        name = "ranked_3_or_lower"
    elif max(truth.shape) > canvas:
        name = "canvas_too_small"
    elif not same_shape:
        name = "wrong_shape"
    else:
        name = "votes_scattered" if share < SCATTERED else "wrong_cells"
    return {
        "class": name,
        "rank": rank,
        "top_votes": [c["votes"] for c in candidates[:3]],
        "top_share": round(share, 3),
        "truth_shape": list(truth.shape),
        "top_shape": None if top is None else list(top.shape),
        "wrong_cells": float(np.mean(top != truth)) if same_shape else None,
        "top_is_input": top is not None and _same(test_input, top),
    }


def _same(grid, truth: np.ndarray) -> bool:
    return grid is not None and np.array_equal(np.asarray(grid), truth)


def summary_line(split: str, s: dict) -> str:
    return (
        f"{split}: pass@2 macro {100 * s['macro']:.1f}% [{100 * s['macro_ci'][0]:.1f}, "
        f"{100 * s['macro_ci'][1]:.1f}], micro {s['n_correct']}/{s['n_test']} test outputs, "
        f"{s['n_tasks_solved']}/{s['n_tasks']} tasks solved, {s['mean_steps']:.0f} steps per task, "
        f"{s['wall_seconds']:.0f} s wall"
    )


def rescore(result: dict) -> dict:
    """The same scoreboard with its splits re-read from their run folders (after a change to the classes)."""
    cores = result["machine"]["cores"]
    for split, old in result["splits"].items():
        run_dir = Path(old["run_dir"]) if Path(old["run_dir"]).is_absolute() else ROOT / old["run_dir"]
        result["splits"][split] = split_result(split, old["samples"], run_dir, old["wall_seconds"], cores)
    return {**result, "classes": CLASSES}


# ---------------------------------------------------------------------------------------------- comparing


def compare(a: dict, b: dict) -> str:
    """A per-task table of two scoreboards (test outputs solved, class, steps) and the tasks that changed."""
    lines = [f"A = {a['name']} ({a['commit'][:9]}), B = {b['name']} ({b['commit'][:9]})", ""]
    changed = []
    for split in [s for s in a["splits"] if s in b["splits"]]:
        rows_a = {r["task_id"]: r for r in a["splits"][split]["tasks"]}
        rows_b = {r["task_id"]: r for r in b["splits"][split]["tasks"]}
        lines += [
            f"{split}: A {summary_line('', a['splits'][split])[2:]}",
            f"{' ' * len(split)}  B {summary_line('', b['splits'][split])[2:]}",
            "",
            "| task | A solved | A class | A steps | B solved | B class | B steps |",
            "|---" * 7 + "|",
        ]
        for tid in [t for t in rows_a if t in rows_b]:
            ra, rb = rows_a[tid], rows_b[tid]
            lines.append(
                f"| {tid} | {ra['n_correct']}/{ra['n_test']} | {_classes(ra)} | {ra['steps']} "
                f"| {rb['n_correct']}/{rb['n_test']} | {_classes(rb)} | {rb['steps']} |"
            )
            if ra["n_correct"] != rb["n_correct"]:
                changed.append(f"{split} {tid}: {ra['n_correct']} -> {rb['n_correct']} of {ra['n_test']}")
        lines.append("")
    missing = set(a["splits"]) ^ set(b["splits"])
    if missing:
        lines.append(f"splits in one run only (not compared): {', '.join(sorted(missing))}")
    lines.append(f"changed ({len(changed)}): " + ("; ".join(changed) if changed else "none"))
    return "\n".join(lines)


def _classes(row: dict) -> str:
    return ",".join(test["class"] for test in row["tests"])


# ---------------------------------------------------------------------------------------------- helpers


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": devices.cores(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def parse_splits(text: str, seed: int) -> dict[str, list[str]]:
    """'arc1-eval:30,concept:20' -> each split's seeded sample."""
    chosen = {}
    for part in text.split(","):
        split, _, n = part.strip().partition(":")
        if split not in tasks.SPLITS or not n.isdigit() or int(n) < 1:
            raise SystemExit(f"--splits: expected SPLIT:N with SPLIT one of {', '.join(tasks.SPLITS)}, got {part!r}")
        chosen[split] = sample(split, int(n), seed)
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default=DEFAULT_SPLITS, help="SPLIT:N,... (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the samples' seed (default 0)")
    parser.add_argument("--seconds", type=float, default=45.0, help="seconds of the whole machine per task")
    parser.add_argument("--steps", type=int, default=None, help="exactly this many training steps per task instead")
    parser.add_argument("--workers", type=int, default=2, help="tasks at a time, each with 1/W of the cores")
    parser.add_argument("--config", type=Path, default=None, help="solve config (default configs/cpu.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--name", default=None, help="the run's name (default: 'default', or 'steps<N>')")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where scoreboard_NAME.json goes")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the run folders go")
    parser.add_argument("--resume", action="store_true", help="continue the runs' saved records (default: fresh)")
    parser.add_argument("--smoke", action="store_true", help="two tiny tasks, a few steps (CI)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two results files")
    parser.add_argument("--rescore", type=Path, metavar="FILE", help="re-read a results file's run folders")
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(*(json.loads(path.read_text()) for path in args.compare)))
        return
    if args.rescore:
        args.rescore.write_text(json.dumps(rescore(json.loads(args.rescore.read_text())), indent=1))
        print(f"rewrote {args.rescore}")
        return
    if args.smoke:
        splits, args.steps, args.workers = SMOKE["splits"], SMOKE["steps"], 1
        args.overrides = [*SMOKE["overrides"], *args.overrides]
    else:
        splits = parse_splits(args.splits, args.seed)
    name = args.name or ("smoke" if args.smoke else f"steps{args.steps}" if args.steps else "default")
    result = run(
        splits, name, args.seconds, args.steps, args.workers, args.overrides, args.config, args.runs, args.resume
    )
    path = args.out / ("scoreboard.json" if name == "default" else f"scoreboard_{name}.json")
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
