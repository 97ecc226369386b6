"""The scoreboard's protocol over every task of a split, resumable across sessions: what the default solves.

    taskset -c 1 python -m benchmarks.whole_split arc1-eval arc2-eval    # one pinned core: 90 s of it per task
    python -m benchmarks.whole_split --summary                           # what the results files say so far

Each split's tasks are solved in a seeded order (`scoreboard.sample` over the whole split: seed 0, so the first
30 of arc1-eval are the scoreboard's sample, and any prefix is a uniform random sample of the split), a few at a
time (`--chunk`), by the product path (`arc-trm evaluate`, one run folder per split under runs/whole/, resumed,
never fresh). After each chunk its tasks' rows (`scoreboard.task_row`, plus the commit and date they ran on) are
added to benchmarks/results/whole_SPLIT.json, written atomically: a results file that grows. A run stopped at any
point loses at most the chunk in flight; the next run, in this session or a later one on a fresh checkout, skips
the tasks the results file holds. The splits advance together: each chunk goes to the split least far along.

Compute: as the scoreboard, each task gets `--seconds` of the machine (the cores this process may run on), spent
by `--workers` one-thread workers each given `seconds x workers` of wall time. The default, 90 s with 1 worker,
is meant for one pinned core (taskset): 90 s of one thread per task, which the scoreboard's protocol counts as the
same share as 45 s of this 2-core machine. On the whole machine: `--seconds 45 --workers 2`.

Sharing a split: a second process (another core, machine or checkout) given its own `--out` folder holding a
results file whose order is a slice of the pending tasks solves that slice; `--merge FILE` then folds its rows into
the split's file, once no run of the split is writing it (a run keeps its results in memory and would overwrite).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from arc_trm.core import devices, tasks
from arc_trm.core.io import write_json
from arc_trm.data.task_encoding import output_shape_rule
from arc_trm.eval import scoring
from benchmarks.scoreboard import (
    CLASSES,
    RESULTS,
    ROOT,
    _commit,
    _machine,
    evaluate_command,
    protocol_overrides,
    read_rows,
    sample,
)

RUNS = ROOT / "runs" / "whole"
SAMPLE_SIZES = (20, 30)  # the scoreboard's sample sizes, set against the whole split by resampling


def results_path(split: str, out: Path = RESULTS) -> Path:
    return out / f"whole_{split}.json"


def load(split: str, out: Path = RESULTS) -> dict:
    """The split's results file, or a new one (the order drawn, no task yet)."""
    path = results_path(split, out)
    if path.is_file():
        return json.loads(path.read_text())
    return {"benchmark": "whole_split", "split": split, "order": sample(split, len(tasks.load(split).ids)), "tasks": {}}


def pending(result: dict) -> list[str]:
    return [tid for tid in result["order"] if tid not in result["tasks"]]


def solve_chunk(
    split: str, ids: list[str], seconds: float, workers: int, overrides: list[str], runs: Path
) -> list[dict]:
    """Solve `ids` in the split's run folder (resumed: a chunk cut short is taken up again) and read their rows."""
    run_dir = runs / split
    command = evaluate_command(
        split, ids, run_dir, [*protocol_overrides(seconds, None, workers), *overrides], workers, None, resume=True
    )
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{split}: arc-trm evaluate exited with {done.returncode}")
    return read_rows(run_dir, tasks.load(split).select(ids), ids)


def run(
    splits: list[str],
    seconds: float,
    workers: int,
    chunk: int,
    overrides: list[str],
    out: Path,
    runs: Path,
    max_tasks: int | None,
) -> None:
    results = {split: load(split, out) for split in splits}
    commit, machine, today = _commit(), _machine(), datetime.date.today().isoformat()
    protocol = {
        "machine_seconds_per_task": seconds,
        "cores": devices.cores(),
        "workers": workers,
        "threads_per_worker": max(1, devices.cores() // workers),
        "task_seconds": seconds * workers,
        "overrides": [*protocol_overrides(seconds, None, workers), *overrides],
        "config_file": "configs/cpu.yaml",
    }
    done = 0
    while max_tasks is None or done < max_tasks:
        waiting = {s: pending(r) for s, r in results.items() if pending(r)}
        if not waiting:
            break
        split = min(waiting, key=lambda s: len(results[s]["tasks"]) / len(results[s]["order"]))
        ids = waiting[split][: chunk if max_tasks is None else min(chunk, max_tasks - done)]
        print(
            f"{split}: {len(results[split]['tasks'])}/{len(results[split]['order'])} done; solving {' '.join(ids)}",
            flush=True,
        )
        for row in solve_chunk(split, ids, seconds, workers, overrides, runs):
            results[split]["tasks"][row["task_id"]] = {**row, "commit": commit, "date": today}
        results[split].update(protocol=protocol, machine=machine)
        save(split, results[split], out)
        done += len(ids)
        print(summary_line(split, results[split]["summary"]), flush=True)


def save(split: str, result: dict, out: Path) -> None:
    """Write the split's results file (atomically) with its classes and a summary of the rows it holds."""
    result.update(classes=CLASSES, summary=summarise(result))
    write_json(result, results_path(split, out), indent=1)


def merge(split: str, other: Path, out: Path = RESULTS) -> tuple[int, int]:
    """Fold the rows of `other` (a results file of the same split and protocol) into the split's results file.
    A task both files hold keeps the row it had. Returns (rows added, rows already held)."""
    result, theirs = load(split, out), json.loads(other.read_text())
    if theirs.get("split") != split:
        raise SystemExit(f"{other}: a results file of {theirs.get('split')!r}, not {split!r}")
    if result.get("protocol") and theirs.get("protocol") != result["protocol"]:
        raise SystemExit(f"{other}: its protocol {theirs.get('protocol')} is not this file's {result['protocol']}")
    strangers = sorted(set(theirs["tasks"]) - set(result["order"]))
    if strangers:
        raise SystemExit(f"{other}: tasks not in {split}: {', '.join(strangers[:5])}")
    new = {tid: row for tid, row in theirs["tasks"].items() if tid not in result["tasks"]}
    result["tasks"].update(new)
    result.update(protocol=theirs["protocol"], machine=result.get("machine", theirs.get("machine")))
    save(split, result, out)
    return len(new), len(theirs["tasks"]) - len(new)


# ---------------------------------------------------------------------------------------------- reading it


def summarise(result: dict) -> dict:
    """pass@2 macro and micro with 95% intervals over the tasks done, classes, copies, steps, and how far the
    scoreboard's sample sizes can fall from the whole (a resampling of the rows done)."""
    rows = [result["tasks"][tid] for tid in result["order"] if tid in result["tasks"]]
    if not rows:
        return {"n_tasks": 0}
    fractions = np.array([r["n_correct"] / r["n_test"] for r in rows])
    n_test, n_correct = sum(r["n_test"] for r in rows), sum(r["n_correct"] for r in rows)
    macro, micro = float(fractions.mean()), n_correct / n_test
    tests = [t for r in rows for t in r["tests"]]
    return {
        "n_tasks": len(rows),
        "of": len(result["order"]),
        "n_test": n_test,
        "n_correct": n_correct,
        "n_tasks_solved": sum(r["solved"] for r in rows),
        "macro": macro,
        "macro_ci": list(scoring.wilson(macro, len(rows))),
        "micro": micro,
        "micro_ci": list(scoring.wilson(micro, n_test)),
        "classes": {name: sum(t["class"] == name for t in tests) for name in CLASSES},
        "top_is_input": sum(t["top_is_input"] for t in tests),
        "mean_steps": float(np.mean([r["steps"] for r in rows])),
        "median_steps": float(np.median([r["steps"] for r in rows])),
        "statuses": {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})},
        "commits": sorted({r["commit"] for r in rows}),
        "samples": {str(n): resample(fractions, n) for n in SAMPLE_SIZES if n < len(rows)},
    }


def resample(fractions: np.ndarray, n: int, draws: int = 10000, seed: int = 0) -> dict:
    """The macro score of `draws` samples of `n` tasks drawn without replacement from the rows done: its 2.5th,
    50th and 97.5th percentiles, and the share of samples at least twice or at most half the whole's figure."""
    rng = np.random.default_rng(seed)
    means = np.array([fractions[rng.permutation(len(fractions))[:n]].mean() for _ in range(draws)])
    whole = fractions.mean()
    return {
        "p2.5": float(np.percentile(means, 2.5)),
        "p50": float(np.percentile(means, 50)),
        "p97.5": float(np.percentile(means, 97.5)),
        "share_2x_or_more": float(np.mean(means >= 2 * whole)) if whole else None,
        "share_half_or_less": float(np.mean(means <= whole / 2)) if whole else None,
    }


def shape_kind(task: tasks.Task) -> str:
    """How the demonstrations' output shapes follow their inputs' (`task_encoding.output_shape_rule`)."""
    if output_shape_rule(task) is None:
        return "no rule"
    if all(a.shape == b.shape for a, b in task.train):
        return "same shape"
    return "fixed shape" if len({b.shape for _, b in task.train}) == 1 else "scaled"


CANVAS_BINS = ("up to 10", "11-20", "21-30")  # the task's canvas side (its largest grid or likely output, + 1)
SHAPE_KINDS = ("same shape", "scaled", "fixed shape", "no rule")
ORDER = {"canvas": CANVAS_BINS, "output shape": SHAPE_KINDS}  # the breakdowns' row order


def canvas_bin(side: int) -> str:
    return CANVAS_BINS[0] if side <= 10 else CANVAS_BINS[1] if side <= 20 else CANVAS_BINS[2]


def breakdowns(result: dict) -> dict[str, dict[str, dict]]:
    """Tasks done, solved, pass@2 macro, copies of the input, wrong-shape answers and median steps per canvas bin
    and per output-shape kind."""
    taskset = tasks.load(result["split"])
    rows = [result["tasks"][tid] for tid in result["order"] if tid in result["tasks"]]
    groups: dict[str, dict[str, list]] = {"canvas": {}, "output shape": {}}
    for row in rows:
        groups["canvas"].setdefault(canvas_bin(row["canvas"]), []).append(row)
        groups["output shape"].setdefault(shape_kind(taskset[row["task_id"]]), []).append(row)
    return {
        name: {
            key: {
                "tasks": len(part),
                "solved": sum(r["solved"] for r in part),
                "macro": float(np.mean([r["n_correct"] / r["n_test"] for r in part])),
                "copies": sum(t["top_is_input"] for r in part for t in r["tests"]),
                "wrong_shape": sum(t["class"] == "wrong_shape" for r in part for t in r["tests"]),
                "median_steps": float(np.median([r["steps"] for r in part])),
            }
            for key, part in sorted(parts.items(), key=lambda kv: ORDER[name].index(kv[0]))
        }
        for name, parts in groups.items()
    }


def markdown(result: dict) -> str:
    """The tables docs/scoreboard.md quotes: classes, and the breakdowns."""
    s = result["summary"]
    lines = [f"**{summary_line(result['split'], s)}**", "", "| class | test outputs |", "|---|---|"]
    lines += [f"| {CLASSES[name]} | {count} |" for name, count in s["classes"].items()]
    lines += [f"| *the top grid is the test input unchanged* | *{s['top_is_input']}* |", ""]
    for name, parts in breakdowns(result).items():
        lines += [
            f"| {name} | tasks | fully solved | pass@2 macro | copies of the input | wrong shape | median steps |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {key} | {p['tasks']} | {p['solved']} | {100 * p['macro']:.1f}% | {p['copies']} | "
            f"{p['wrong_shape']} | {p['median_steps']:.0f} |"
            for key, p in parts.items()
        ]
        lines.append("")
    for n, r in s.get("samples", {}).items():
        lines.append(
            f"- samples of {n} of these tasks (10,000 draws): pass@2 macro from {100 * r['p2.5']:.1f}% to "
            f"{100 * r['p97.5']:.1f}% (95%), median {100 * r['p50']:.1f}%"
        )
    return "\n".join(lines).rstrip() + "\n"


def summary_line(split: str, s: dict) -> str:
    if not s.get("n_tasks"):
        return f"{split}: no task done yet"
    return (
        f"{split}: {s['n_tasks']}/{s['of']} tasks: pass@2 macro {100 * s['macro']:.1f}% "
        f"[{100 * s['macro_ci'][0]:.1f}, {100 * s['macro_ci'][1]:.1f}], micro {s['n_correct']}/{s['n_test']}, "
        f"{s['n_tasks_solved']} tasks solved, median {s['median_steps']:.0f} steps"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("splits", nargs="*", default=["arc1-eval", "arc2-eval"], help="splits (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=90.0, help="seconds of the machine (its cores) per task")
    parser.add_argument("--workers", type=int, default=1, help="tasks at a time, each with 1/W of the cores")
    parser.add_argument("--chunk", type=int, default=4, help="tasks per evaluate run (the most a stop loses)")
    parser.add_argument("--max-tasks", type=int, default=None, help="stop after this many tasks")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where whole_SPLIT.json goes")
    parser.add_argument("--runs", type=Path, default=RUNS, help="where the run folders go")
    parser.add_argument("--summary", action="store_true", help="print what the results files say, run nothing")
    parser.add_argument("--markdown", action="store_true", help="print the tables docs/scoreboard.md quotes")
    parser.add_argument("--merge", type=Path, metavar="FILE", help="fold FILE's rows into the split's results file")
    args = parser.parse_args(argv)
    for split in args.splits:
        if split not in tasks.SPLITS:
            raise SystemExit(f"unknown split {split!r}: one of {', '.join(tasks.SPLITS)}")
    if args.merge:
        if len(args.splits) != 1:
            raise SystemExit("--merge takes one split: the one FILE holds")
        added, held = merge(args.splits[0], args.merge, args.out)
        print(f"{args.splits[0]}: {added} rows added from {args.merge}, {held} already held")
        return
    if args.summary or args.markdown:
        for split in args.splits:
            result = load(split, args.out)
            print(
                markdown({**result, "summary": summarise(result)})
                if args.markdown
                else summary_line(split, summarise(result))
            )
        return
    run(args.splits, args.seconds, args.workers, args.chunk, args.overrides, args.out, args.runs, args.max_tasks)


if __name__ == "__main__":
    sys.exit(main())
