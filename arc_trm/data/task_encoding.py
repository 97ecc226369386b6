"""A task's augmented versions encoded on its canvas: what test-time training learns from and answers.

    canvas = task_canvas(task)                          # the one canvas rule: grids, likely outputs, marker
    data = task_data(task, augs, canvas)                # every version's demonstrations and test inputs

Each augmented version of the task is its own "puzzle" with its own embedding row (ids 1..K; 0 is the
official blank id), as in the official data build; the test inputs are answered with their version's row.
Several tasks can train jointly in one model: each task's rows follow the previous task's (`first_id`), and a
step takes a batch from every task (`sample_joint`). Grids become tokens by `arc_trm.data.encoding`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from arc_trm.core.tasks import Task
from arc_trm.data.augment import Aug, swaps_sides
from arc_trm.data.encoding import OFFICIAL_CANVAS, encode


@dataclass
class TaskData:
    """A task's augmented versions encoded on its canvas: demonstrations to train on, test inputs to answer."""

    task_id: str
    canvas: int
    augs: list[Aug]
    inputs: np.ndarray  # (N, C*C) uint8, every demonstration of every version
    labels: np.ndarray  # (N, C*C) uint8
    puzzle_ids: np.ndarray  # (N,) int64, version k has id k + 1
    test_inputs: np.ndarray  # (M, C*C) uint8, every readable test input of every version
    test_ids: np.ndarray  # (M,) puzzle ids
    test_index: np.ndarray  # (M,) which test input of the task
    test_aug: np.ndarray  # (M,) which version
    num_tests: int  # test inputs of the task, unreadable ones included
    out_shapes: np.ndarray | None = None  # (N, 2) each demonstration's expected output shape (`output_coords`)
    test_out_shapes: np.ndarray | None = None  # (M, 2) each test row's, from `output_shape_rule`
    rng: np.random.Generator = field(default_factory=np.random.default_rng, repr=False)

    @property
    def test_per_version(self) -> int:
        """Readable test inputs per augmented version."""
        return len(self.test_inputs) // len(self.augs)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        """A random batch of demonstrations (without replacement while there are enough)."""
        n = len(self.inputs)
        rows = self.rng.choice(n, size=batch_size, replace=n < batch_size)
        batch = {
            "inputs": torch.from_numpy(self.inputs[rows].astype(np.int64)),
            "labels": torch.from_numpy(self.labels[rows].astype(np.int64)),
            "puzzle_ids": torch.from_numpy(self.puzzle_ids[rows]),
        }
        if self.out_shapes is not None:
            batch["out_shape"] = torch.from_numpy(self.out_shapes[rows])
        return batch


def output_shape_rule(task: Task) -> Callable[[tuple[int, int]], tuple[int, int]] | None:
    """How the demonstrations map an input's shape to their output's: one fixed scale (the same shape included)
    or one fixed output shape, as a function of the input's shape; None when neither fits them all."""
    pairs = [(a.shape, b.shape) for a, b in task.train]
    scales = {(Fraction(b[0], a[0]), Fraction(b[1], a[1])) for a, b in pairs}
    if len(scales) == 1:
        sr, sc = scales.pop()
        return lambda shape: (math.ceil(shape[0] * sr), math.ceil(shape[1] * sc))
    outputs = {b for _, b in pairs}
    if len(outputs) == 1:
        fixed = outputs.pop()
        return lambda shape: fixed
    return None


def predicted_output_side(task: Task) -> int:
    """The largest side a test output is likely to have (by `output_shape_rule`), or the largest grid seen."""
    seen = max(max(g.shape) for g in task.grids)
    rule = output_shape_rule(task)
    tests = [g.shape for g in task.test_inputs if g is not None]
    return max(seen, *(max(rule(shape)) for shape in tests)) if rule and tests else seen


def expected_output_shape(rule: Callable | None, grid: np.ndarray, aug: Aug, canvas: int) -> tuple[int, int]:
    """The output shape that `rule` expects for an input grid, in the version `aug`, at most the canvas; the
    input's own shape when there is no rule (a task whose output shapes follow no rule: no information)."""
    rows, cols = rule(grid.shape) if rule else grid.shape
    if swaps_sides(aug.dihedral):
        rows, cols = cols, rows
    return min(rows, canvas), min(cols, canvas)


def task_canvas(task: Task, translate: int = 0) -> int:
    """The canvas side of a task, the one rule that solve, the budget and the planner all use: room for its
    grids and its likely test outputs (`predicted_output_side`), the end-of-grid marker and the translation, at
    most the official 30. ValueError for a negative translation or a task without a readable grid."""
    if translate < 0:
        raise ValueError(f"translate must be >= 0, got {translate}")
    if not task.grids:
        raise ValueError(f"task {task.id} has no readable grid")
    return min(predicted_output_side(task) + 1 + translate, OFFICIAL_CANVAS)


def task_data(task: Task, augs: list[Aug], canvas: int, seed: int = 0, first_id: int = 1) -> TaskData:
    """Encode every version of the task; demonstrations of version k sit at `augs[k].translate`, except one
    per version at the origin (as the official build keeps one untranslated example per version). Version k
    gets puzzle id `first_id + k`."""
    inputs, labels, ids, shapes = [], [], [], []
    rule = output_shape_rule(task)
    for k, aug in enumerate(augs):
        for j, (grid_in, grid_out) in enumerate(task.train):
            offset = (0, 0) if j == k % len(task.train) else _fit(aug.translate, grid_in, grid_out, aug, canvas)
            inputs.append(encode(aug.apply(grid_in), canvas, offset))
            labels.append(encode(aug.apply(grid_out), canvas, offset))
            ids.append(first_id + k)
            shapes.append(expected_output_shape(rule, grid_in, aug, canvas))
    tests = [(k, i, aug, g) for k, aug in enumerate(augs) for i, g in enumerate(task.test_inputs) if g is not None]
    return TaskData(
        task.id,
        canvas,
        augs,
        np.stack(inputs),
        np.stack(labels),
        np.array(ids, np.int64),
        np.stack([encode(aug.apply(g), canvas) for _, _, aug, g in tests]),
        np.array([first_id + k for k, *_ in tests], np.int64),
        np.array([i for _, i, _, _ in tests]),
        np.array([k for k, *_ in tests]),
        len(task.test_inputs),
        out_shapes=np.array(shapes, np.int64).reshape(-1, 2),
        test_out_shapes=np.array(
            [expected_output_shape(rule, g, aug, canvas) for *_, aug, g in tests], np.int64
        ).reshape(-1, 2),
        rng=np.random.default_rng(seed),
    )


def sample_joint(parts: list[TaskData], batch_size: int) -> dict[str, torch.Tensor]:
    """One training batch for tasks trained jointly: `batch_size` demonstrations of each task, side by side
    (so every task gets as many samples per step as it would alone). One task: just `parts[0].sample`."""
    batches = [part.sample(batch_size) for part in parts]
    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


def _fit(offset: tuple[int, int], grid_in: np.ndarray, grid_out: np.ndarray, aug: Aug, canvas: int):
    """The offset, shrunk so that both augmented grids (and their end-of-grid marker) stay on the canvas."""
    shapes = [aug.apply(grid_in).shape, aug.apply(grid_out).shape]
    room_r = canvas - max(s[0] for s in shapes)
    room_c = canvas - max(s[1] for s in shapes)
    return min(offset[0], max(room_r - 1, 0)), min(offset[1], max(room_c - 1, 0))
