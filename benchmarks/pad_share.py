"""How much of the CPU default's training is spent on pad cells: the ceiling of packing a batch's real cells.

    python -m benchmarks.pad_share                   # arc1-eval and concept: benchmarks/results/pad_share.json

solve encodes every example of a task on the task's canvas (side c: its largest grid, or its likely output, + 1
for the end-of-grid marker), so each training row costs c x c cells. A cell outside both the input's and the
output's box (with their markers) holds PAD in the input and is not supervised (losses.supervised), yet every
layer computes on it and attends to it. Per task, the cells a demonstration needs are its input and output boxes'
union, markers included ((max h + 1) x (max w + 1)); the ceiling of packing is canvas cells / needed cells,
averaged over the demonstrations. It is a ceiling: a packed batch pads to its longest row, attention costs the
square of the length, and the ~100 small kernels of a CPU step (docs/lab/2026-11-30-cpu-step.md) do not shrink.
Dropping those cells also changes the model's function (they are attention keys), so it needs the scoreboard.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from arc_trm import tasks
from arc_trm.task_encoding import task_canvas

RESULTS = Path(__file__).resolve().parent / "results" / "pad_share.json"
SPLITS = ("arc1-eval", "concept")


def needed_cells(task: tasks.Task, canvas: int) -> float:
    """The mean cells a demonstration of `task` needs on `canvas`: its input and output boxes with markers."""
    return float(np.mean([min(canvas, max(a.shape[0], b.shape[0]) + 1) * min(canvas, max(a.shape[1], b.shape[1]) + 1)
                          for a, b in task.train]))


def split_share(split: str) -> dict:
    rows = []
    for task in tasks.load(split):
        if task.solvable:
            canvas = task_canvas(task)
            rows.append((canvas * canvas, needed_cells(task, canvas)))
    cells, needed = np.array(rows).T
    return {"tasks": len(rows), "pad_share_mean": float(np.mean(1 - needed / cells)),
            "pad_share_weighted": float(1 - needed.sum() / cells.sum()),
            "packing_ceiling_geomean": float(np.exp(np.mean(np.log(cells / needed)))),
            "packing_ceiling_median": float(np.median(cells / needed))}


def main() -> None:
    result = {"benchmark": "pad_share", "splits": {split: split_share(split) for split in SPLITS}}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    for split, row in result["splits"].items():
        print(f"{split}: {row['tasks']} tasks, pad cells {100 * row['pad_share_mean']:.0f}% of a task's cells "
              f"(mean), {100 * row['pad_share_weighted']:.0f}% of all; packing ceiling "
              f"{row['packing_ceiling_geomean']:.2f}x (geometric mean), {row['packing_ceiling_median']:.2f}x (median)")


if __name__ == "__main__":
    main()
