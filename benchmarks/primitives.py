"""Find the ARC-AGI-1 tasks that a single primitive solves: the task list of the learning benchmark (issue 4, item 8).

A primitive is a family of grid transforms with parameters fitted on a task's demonstrations: the 7 non-identity
dihedral transforms, a fixed colour map, mirroring of the input, tiling of the input, upscaling, and (cheap to
add, so included) one dihedral transform followed by a fixed colour map. A task is primitive-solvable when some
primitive, fitted on the demonstrations alone, reproduces every demonstration output AND every test output.
Tasks whose demonstrations fit but whose test fails are reported by `near_misses` and left out of the list.

Run from the repository root: `python -m benchmarks.primitives` prints counts per primitive and split and
writes benchmarks/primitive_tasks.json ({split: {task_id: primitive}}).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from arc_trm.core.tasks import Task, TaskSet, load
from arc_trm.data.augment import dihedral

SPLITS = ("arc1-train", "arc1-eval")
JSON_PATH = Path(__file__).with_name("primitive_tasks.json")
DIHEDRAL_NAMES = {1: "rot90", 2: "rot180", 3: "rot270", 4: "fliplr", 5: "flipud", 6: "transpose", 7: "anti-transpose"}
MAX_TILE = 4
MAX_UPSCALE = 5

Grid = np.ndarray
Pairs = list[tuple[Grid, Grid]]


class Fit(NamedTuple):
    """A primitive with its parameters fitted: a readable description and the transform (None: cannot apply)."""

    detail: str
    apply: Callable[[Grid], Grid | None]


Fitter = Callable[[Pairs], "Fit | None"]


# ------------------------------------------------------------------------------------------------- helpers


def same(a: Grid | None, b: Grid | None) -> bool:
    """True when both grids exist and are equal in shape and every cell."""
    return a is not None and b is not None and a.shape == b.shape and bool(np.array_equal(a, b))


def first_fit(candidates: Iterable[Fit], pairs: Pairs) -> Fit | None:
    """The first candidate that maps every demonstration input to its output, or None."""
    for fit in candidates:
        if all(same(fit.apply(a), b) for a, b in pairs):
            return fit
    return None


def scale(pairs: Pairs, largest: int) -> tuple[int, int] | None:
    """The (rows, cols) factor by which every output is larger than its input, each 1..`largest`, not (1, 1)."""
    factors = set()
    for a, b in pairs:
        (h, w), (H, W) = a.shape, b.shape
        if H % h or W % w:
            return None
        factors.add((H // h, W // w))
    if len(factors) != 1:
        return None
    k, m = factors.pop()
    return (k, m) if 1 <= k <= largest and 1 <= m <= largest and (k, m) != (1, 1) else None


# ----------------------------------------------------------------------------------------------- primitives


def fit_dihedral(k: int) -> Fitter:
    """A fitter for the fixed dihedral transform `k` (1-7; no parameters to fit)."""

    def fit(pairs: Pairs) -> Fit | None:
        return first_fit([Fit(DIHEDRAL_NAMES[k], lambda g: dihedral(g, k))], pairs)

    return fit


def colour_table(pairs: Pairs) -> np.ndarray | None:
    """The colour map (colour -> colour, -1 where unseen) that turns each input into its output, or None."""
    table = np.full(10, -1, dtype=np.int16)
    for a, b in pairs:
        if a.shape != b.shape:
            return None
        for colour in np.unique(a):
            targets = np.unique(b[a == colour])
            if len(targets) != 1 or table[colour] not in (-1, targets[0]):
                return None
            table[colour] = targets[0]
    return table


def apply_table(table: np.ndarray, grid: Grid) -> Grid | None:
    """Recolour `grid` by `table`; None when the grid holds a colour the table does not define."""
    out = table[grid]
    return None if (out < 0).any() else out.astype(np.uint8)


def describe_table(table: np.ndarray) -> str:
    """The non-trivial entries of a colour table, e.g. '1->5 2->6'."""
    return " ".join(f"{c}->{t}" for c, t in enumerate(table) if t >= 0 and t != c) or "identity"


def fit_colour_map(pairs: Pairs) -> Fit | None:
    """One consistent colour -> colour map learned from the demonstrations."""
    table = colour_table(pairs)
    if table is None:
        return None
    return Fit(f"colour map {describe_table(table)}", lambda g: apply_table(table, g))


def fit_dihedral_colour_map(pairs: Pairs) -> Fit | None:
    """A non-identity dihedral transform followed by a fixed colour map (the first transform that fits)."""
    for k, name in DIHEDRAL_NAMES.items():
        table = colour_table([(dihedral(a, k), b) for a, b in pairs])
        if table is not None:
            return Fit(
                f"{name} + colour map {describe_table(table)}",
                lambda g, k=k, table=table: apply_table(table, dihedral(g, k)),
            )
    return None


def mirror_2x2(q: Grid) -> Grid:
    """`q` in the top-left quadrant, mirrored into the other three."""
    top = np.hstack([q, q[:, ::-1]])
    return np.vstack([top, top[::-1]])


MIRRORS: dict[str, Callable[[Grid], Grid]] = {
    "input|fliplr": lambda g: np.hstack([g, g[:, ::-1]]),
    "fliplr|input": lambda g: np.hstack([g[:, ::-1], g]),
    "input/flipud": lambda g: np.vstack([g, g[::-1]]),
    "flipud/input": lambda g: np.vstack([g[::-1], g]),
    "2x2 from input": mirror_2x2,
    "2x2 from fliplr": lambda g: mirror_2x2(g[:, ::-1]),
    "2x2 from flipud": lambda g: mirror_2x2(g[::-1]),
    "2x2 from rot180": lambda g: mirror_2x2(g[::-1, ::-1]),
}


def fit_mirror(pairs: Pairs) -> Fit | None:
    """The input beside or above its flipped copy, or 2x2 mirror tiling; the first variant (in MIRRORS) that fits."""
    return first_fit([Fit(f"mirror {name}", f) for name, f in MIRRORS.items()], pairs)


def fit_tile(pairs: Pairs) -> Fit | None:
    """The input repeated k x m times (k, m up to MAX_TILE), the factor read off the demonstrations' sizes."""
    factor = scale(pairs, MAX_TILE)
    if factor is None:
        return None
    return first_fit([Fit(f"tile {factor[0]}x{factor[1]}", lambda g: np.tile(g, factor))], pairs)


def fit_upscale(pairs: Pairs) -> Fit | None:
    """Each cell becomes a k x m block (k, m up to MAX_UPSCALE), the factor read off the demonstrations' sizes."""
    factor = scale(pairs, MAX_UPSCALE)
    if factor is None:
        return None
    k, m = factor
    return first_fit([Fit(f"upscale {k}x{m}", lambda g: np.repeat(np.repeat(g, k, axis=0), m, axis=1))], pairs)


def primitives() -> dict[str, Fitter]:
    """The primitives by name, in the order `find` tries them (the simplest first)."""
    fitters: dict[str, Fitter] = {name: fit_dihedral(k) for k, name in DIHEDRAL_NAMES.items()}
    fitters["colour map"] = fit_colour_map
    fitters["mirror"] = fit_mirror
    fitters["tile"] = fit_tile
    fitters["upscale"] = fit_upscale
    fitters["dihedral+colour map"] = fit_dihedral_colour_map
    return fitters


# ---------------------------------------------------------------------------------------------------- search


def check(task: Task) -> tuple[str | None, list[str]]:
    """(the first primitive that solves `task` or None, every primitive whose fit reproduces the demonstrations)."""
    if not task.train or task.test_outputs is None:
        return None, []
    tests = list(zip(task.test_inputs, task.test_outputs))
    solver, fitting = None, []
    for name, fitter in primitives().items():
        fit = fitter(task.train)
        if fit is None:
            continue
        fitting.append(name)
        if solver is None and all(x is not None and same(fit.apply(x), y) for x, y in tests):
            solver = name
    return solver, fitting


def find(taskset: TaskSet | Iterable[Task]) -> dict[str, str]:
    """Task id -> name of the first primitive (in `primitives()` order) that solves the task, for solvable tasks."""
    found = {}
    for task in taskset:
        solver, _ = check(task)
        if solver is not None:
            found[task.id] = solver
    return found


def near_misses(taskset: TaskSet | Iterable[Task]) -> dict[str, list[str]]:
    """Task id -> primitives that reproduce every demonstration, for tasks where none reproduces the test."""
    misses = {}
    for task in taskset:
        solver, fitting = check(task)
        if solver is None and fitting:
            misses[task.id] = fitting
    return misses


def table(found: dict[str, dict[str, str]]) -> str:
    """Counts per primitive (rows) and split (columns), with totals, as plain text."""
    splits = list(found)
    lines = [f"{'primitive':<22}" + "".join(f"{s:>12}" for s in splits) + f"{'total':>8}"]
    for name in [*primitives(), "total"]:
        counts = [sum(name in ("total", p) for p in found[s].values()) for s in splits]
        lines.append(f"{name:<22}" + "".join(f"{c:>12}" for c in counts) + f"{sum(counts):>8}")
    return "\n".join(lines)


def main() -> None:
    """Check every ARC-AGI-1 task, print the counts and the near misses, write JSON_PATH."""
    found, misses = {}, {}
    for split in SPLITS:
        tasks = load(split)
        found[split] = dict(sorted(find(tasks).items()))
        misses[split] = near_misses(tasks)
    print(table(found))
    print("\nDemonstrations fit but the test fails (not included):")
    for split in SPLITS:
        for task_id, names in sorted(misses[split].items()):
            print(f"  {split} {task_id}: {', '.join(names)}")
    JSON_PATH.write_text(json.dumps(found, indent=1) + "\n")
    print(f"\nWrote {sum(map(len, found.values()))} tasks to {JSON_PATH}")


if __name__ == "__main__":
    main()
