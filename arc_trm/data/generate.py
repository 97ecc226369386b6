"""Generated tasks for pretraining a prior: families of ARC-like rules, each task one rule with its own parameters.

    tasks = generate(per_family=50, seed=0)     # 50 tasks of every family, the same for the same seed

A family draws a rule (a function from input grid to output grid: which turn, which colours, which direction)
and the rule's inputs; a task is `DEMONSTRATIONS` pairs and one test pair of one rule. The families cover what
most ARC tasks are built from: geometry, colour roles, scaling and tiling, gravity and moves, fills, crops,
counting, rays and symmetry. Inputs are scenes of a few one-coloured sprites on a background (`scene`); a drawn
task whose outputs are not grids of at most 30 x 30 or whose rule changes nothing is drawn again.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from arc_trm.core.tasks import MAX_SIDE, Task
from arc_trm.data.augment import dihedral

Grid = np.ndarray
Rule = Callable[[Grid], Grid]
Family = Callable[[np.random.Generator], tuple[Rule, Callable[[np.random.Generator], Grid]]]
DEMONSTRATIONS = 3
PREFIX = "gen-"  # the id of every generated task starts with it: gen-<family>-<n>


def scene(rng: np.random.Generator, side: tuple[int, int] = (3, 12), sprites: tuple[int, int] = (1, 5)) -> Grid:
    """A black grid (colour 0, the background of every family) with a few sprites: random one-coloured shapes
    of up to 4 x 4 cells in colours 1-9."""
    h, w = (int(v) for v in rng.integers(side[0], side[1] + 1, size=2))
    grid = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(sprites[0], sprites[1] + 1)):
        sh, sw = int(rng.integers(1, min(4, h) + 1)), int(rng.integers(1, min(4, w) + 1))
        y, x = int(rng.integers(0, h - sh + 1)), int(rng.integers(0, w - sw + 1))
        shape = rng.random((sh, sw)) < 0.7
        shape[rng.integers(sh), rng.integers(sw)] = True
        grid[y : y + sh, x : x + sw][shape] = rng.integers(1, 10)
    return grid


def _scenes(side: tuple[int, int] = (3, 12), sprites: tuple[int, int] = (1, 5)):
    return lambda rng: scene(rng, side, sprites)


def _objects(grid: Grid) -> tuple[np.ndarray, int]:
    """The 4-connected groups of coloured (non-0) cells: labels and their number."""
    return ndimage.label(grid != 0)


# --------------------------------------------------------------------------------------------- families


def geometry(rng):
    """A turn, flip or transpose of the whole grid."""
    k = int(rng.integers(1, 8))
    return (lambda g: dihedral(g, k)), _scenes()


def colours(rng):
    """Some colours swapped for others everywhere."""
    table = np.arange(10, dtype=np.uint8)
    chosen = rng.choice(np.arange(1, 10), size=int(rng.integers(2, 5)), replace=False)
    table[chosen] = np.roll(chosen, 1)
    return (lambda g: table[g]), _scenes(sprites=(3, 7))


def scale(rng):
    """Every cell blown up to a k x k block."""
    k = int(rng.integers(2, 4))
    return (lambda g: np.kron(g, np.ones((k, k), np.uint8))), _scenes((2, MAX_SIDE // k), (1, 3))


def tile(rng):
    """The grid repeated a x b times, every other copy mirrored or not."""
    a, b = [(1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (3, 3)][rng.integers(6)]
    mirror = bool(rng.integers(2))

    def rule(g):
        rows = [np.hstack([np.fliplr(g) if mirror and j % 2 else g for j in range(b)]) for _ in range(a)]
        return np.vstack([np.flipud(r) if mirror and i % 2 else r for i, r in enumerate(rows)])

    return rule, _scenes((2, MAX_SIDE // max(a, b)), (1, 3))


def gravity(rng):
    """Every coloured cell falls as far as it can towards one side, keeping its order."""
    k = int(rng.integers(4))  # quarter turns that bring the side to the bottom

    def down(g):
        out = np.zeros_like(g)
        for x in range(g.shape[1]):
            cells = g[:, x][g[:, x] != 0]
            out[g.shape[0] - len(cells) :, x] = cells
        return out

    return (lambda g: np.rot90(down(np.rot90(g, k)), -k)), _scenes(sprites=(2, 6))


def move(rng):
    """Everything shifted by a few cells in one direction; what leaves the grid is lost."""
    dy, dx = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1)][rng.integers(5)]
    n = int(rng.integers(1, 3))

    def rule(g):
        out = np.zeros_like(g)
        h, w = g.shape
        ys, xs = slice(max(0, dy * n), h + min(0, dy * n)), slice(max(0, dx * n), w + min(0, dx * n))
        yo, xo = slice(max(0, -dy * n), h + min(0, -dy * n)), slice(max(0, -dx * n), w + min(0, -dx * n))
        out[ys, xs] = g[yo, xo]
        return out

    return rule, _scenes((4, 12))


def fill(rng):
    """The cells enclosed by outlines filled with one colour."""
    colour = int(rng.integers(1, 10))

    def draw(r):
        g = np.zeros(tuple(int(v) for v in r.integers(6, 15, size=2)), np.uint8)
        for _ in range(r.integers(1, 4)):
            h, w = int(r.integers(3, min(7, g.shape[0]) + 1)), int(r.integers(3, min(7, g.shape[1]) + 1))
            y, x = int(r.integers(0, g.shape[0] - h + 1)), int(r.integers(0, g.shape[1] - w + 1))
            box = g[y : y + h, x : x + w]
            box[[0, -1], :] = box[:, [0, -1]] = r.choice([c for c in range(1, 10) if c != colour])
        return g

    return (lambda g: np.where(ndimage.binary_fill_holes(g != 0) & (g == 0), colour, g).astype(np.uint8)), draw


def crop(rng):
    """The bounding box of the cells of one colour role: the one sprite whose colour no other sprite has."""

    def draw(r):
        g = scene(r, (6, 14), (2, 4))
        g[g != 0] = 5  # grey distractors
        h, w = int(r.integers(1, 5)), int(r.integers(1, 5))
        y, x = int(r.integers(0, g.shape[0] - h + 1)), int(r.integers(0, g.shape[1] - w + 1))
        shape = r.random((h, w)) < 0.75
        shape[r.integers(h), r.integers(w)] = True
        g[y : y + h, x : x + w][shape] = int(r.choice([1, 2, 3, 4, 6, 7, 8, 9]))
        return g

    def rule(g):
        ys, xs = np.nonzero((g != 0) & (g != 5))
        return g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]

    return rule, draw


def count(rng):
    """A row with one cell per object, in one colour."""
    colour = int(rng.integers(1, 10))
    return (lambda g: np.full((1, _objects(g)[1]), colour, np.uint8)), _scenes((5, 12), (1, 6))


def largest(rng):
    """The largest object recoloured (a colour role by size); the others kept. Scenes are drawn until one
    object is larger than every other, so that every pair follows the rule."""
    colour = int(rng.integers(1, 10))

    def rule(g):
        labels, _ = _objects(g)
        return np.where(labels == 1 + int(_sizes(labels).argmax()), colour, g).astype(np.uint8)

    def draw(r):
        while True:
            sizes = _sizes(_objects(g := scene(r, (6, 14), (2, 5)))[0])
            if len(sizes) and (sizes == sizes.max()).sum() == 1:
                return g

    return rule, draw


def _sizes(labels: np.ndarray) -> np.ndarray:
    """Cells of each labelled object (label 1 first)."""
    return np.bincount(labels.ravel())[1:]


def rays(rng):
    """From every cell of one colour, a line of its colour to the edge in one direction."""
    k = int(rng.integers(4))

    def up(g):
        out = g.copy()
        for y, x in zip(*np.nonzero(g == 2)):
            column = out[:y, x]
            column[column == 0] = 2
        return out

    def draw(r):
        g = scene(r, (5, 14), (1, 4))
        g[g == 2] = 3
        for _ in range(r.integers(1, 4)):
            g[r.integers(g.shape[0]), r.integers(g.shape[1])] = 2
        return g

    return (lambda g: np.rot90(up(np.rot90(g, k)), -k)), draw


def symmetry(rng):
    """The grid and its mirror image side by side or stacked."""
    side = bool(rng.integers(2))
    return (lambda g: np.hstack([g, np.fliplr(g)]) if side else np.vstack([g, np.flipud(g)])), _scenes((2, 15))


FAMILIES: dict[str, Family] = {
    f.__name__: f for f in (geometry, colours, scale, tile, gravity, move, fill, crop, count, largest, rays, symmetry)
}


# ------------------------------------------------------------------------------------------------ tasks


def task(family: str, n: int, seed: int = 0, tries: int = 100) -> Task:
    """Task `n` of `family` (the same for the same seed): DEMONSTRATIONS + 1 pairs of one drawn rule."""
    rng = np.random.default_rng([seed, list(FAMILIES).index(family), n])
    for _ in range(tries):
        rule, draw = FAMILIES[family](rng)
        pairs = []
        for _ in range(DEMONSTRATIONS + 1):
            grid = draw(rng)
            pairs.append((grid, np.ascontiguousarray(rule(grid), dtype=np.uint8)))
        if _usable(pairs):
            *train, (test_in, test_out) = pairs
            return Task(f"{PREFIX}{family}-{n}", train, [test_in], [test_out], source="generated")
    raise RuntimeError(f"{family}: no usable task in {tries} draws (seed {seed}, task {n})")


def _usable(pairs: list[tuple[Grid, Grid]]) -> bool:
    """Every output a grid of 1 to 30 cells a side, and the rule changes at least one demonstration."""
    sizes_ok = all(1 <= s <= MAX_SIDE for _, out in pairs for s in out.shape)
    changes = any(a.shape != b.shape or (a != b).any() for a, b in pairs)
    return sizes_ok and changes


def generate(per_family: int, seed: int = 0, families: list[str] | None = None) -> list[Task]:
    """`per_family` tasks of each family (all of them by default), family by family."""
    return [task(name, n, seed) for name in (families or list(FAMILIES)) for n in range(per_family)]
