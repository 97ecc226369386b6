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

The lesser lever, `crop_ceiling`: each random training batch (the default's versions and batch size) cut to the
rectangle its rows need, every cell keeping its place (no packing, no mask). A batch of several demonstrations
usually holds the task's largest one, so it saves less than packing: the mean canvas cells over the mean cells
of a batch's rectangle, over 50 seeded batches per task.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from arc_trm.core import tasks
from arc_trm.core.config import load_config
from arc_trm.data import augment
from arc_trm.data.task_encoding import task_canvas
from arc_trm.solve.config import SolveConfig
from arc_trm.ttt import trainer as ttt

RESULTS = Path(__file__).resolve().parent / "results" / "pad_share.json"
CPU_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "cpu.yaml"
SPLITS = ("arc1-eval", "concept")
BATCHES = 50


def _boxes(task: tasks.Task, canvas: int) -> list[tuple[int, int]]:
    """Per demonstration, the rows and columns its input and output boxes need with their markers."""
    return [
        (min(canvas, max(a.shape[0], b.shape[0]) + 1), min(canvas, max(a.shape[1], b.shape[1]) + 1))
        for a, b in task.train
    ]


def needed_cells(task: tasks.Task, canvas: int) -> float:
    """The mean cells a demonstration of `task` needs on `canvas`: its input and output boxes with markers."""
    return float(np.mean([r * c for r, c in _boxes(task, canvas)]))


def batch_cells(task: tasks.Task, canvas: int, config: ttt.TTTConfig, seed: int = 0) -> float:
    """The mean cells of the rectangle that a random training batch's demonstrations need (as `needed_cells`,
    sides swapped in the versions that transpose), over BATCHES batches of the default's size."""
    boxes = _boxes(task, canvas)
    versions = augment.versions(task, config.versions, seed, config.permute_background, 0, config.dihedral)
    rows = np.array([box[::-1] if augment.swaps_sides(aug.dihedral) else box for aug in versions for box in boxes])
    rng, size = np.random.default_rng(seed), ttt.batch_size(config, canvas)
    draws = [rows[rng.choice(len(rows), size, replace=len(rows) < size)].max(0) for _ in range(BATCHES)]
    return float(np.mean([r * c for r, c in draws]))


def split_share(split: str) -> dict:
    rows, config = [], load_config(SolveConfig, CPU_CONFIG).ttt
    for task in tasks.load(split):
        if task.solvable:
            canvas = task_canvas(task)
            rows.append((canvas * canvas, needed_cells(task, canvas), batch_cells(task, canvas, config)))
    cells, needed, cropped = np.array(rows).T
    return {
        "tasks": len(rows),
        "pad_share_mean": float(np.mean(1 - needed / cells)),
        "pad_share_weighted": float(1 - needed.sum() / cells.sum()),
        "packing_ceiling_geomean": float(np.exp(np.mean(np.log(cells / needed)))),
        "packing_ceiling_median": float(np.median(cells / needed)),
        "crop_ceiling_geomean": float(np.exp(np.mean(np.log(cells / cropped)))),
        "crop_ceiling_median": float(np.median(cells / cropped)),
    }


def main() -> None:
    result = {"benchmark": "pad_share", "splits": {split: split_share(split) for split in SPLITS}}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    for split, row in result["splits"].items():
        print(
            f"{split}: {row['tasks']} tasks, pad cells {100 * row['pad_share_mean']:.0f}% of a task's cells "
            f"(mean), {100 * row['pad_share_weighted']:.0f}% of all; packing ceiling "
            f"{row['packing_ceiling_geomean']:.2f}x (geometric mean), {row['packing_ceiling_median']:.2f}x (median); "
            f"batch crop ceiling {row['crop_ceiling_geomean']:.2f}x ({row['crop_ceiling_median']:.2f}x)"
        )


if __name__ == "__main__":
    main()
