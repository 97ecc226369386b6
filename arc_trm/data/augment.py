"""Augmentations of ARC tasks: the 8 dihedral symmetries, colour permutations and canvas translations.

An `Aug` is one augmented version of a task, as in the official TRM (TRM_SPEC 4.3, 4.5): a grid `g` becomes
`dihedral(colours[g], k)`, and a predicted grid goes back with `invert`. Names follow the official
`taskid|||t<k>|||<colour map>` convention so that puzzle identifiers interoperate with official checkpoints.
`plan` draws the distinct versions of a task that test-time training and voting work on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from arc_trm.core.tasks import MAX_SIDE, Task

# Dihedral ids as in the official code: 0 identity, 1 rot90, 2 rot180, 3 rot270, 4 fliplr, 5 flipud,
# 6 transpose, 7 anti-transpose (fliplr of rot90). Each is a number of counter-clockwise quarter turns,
# optionally followed by a left-right flip.
_QUARTER_TURNS_THEN_FLIP = ((0, False), (1, False), (2, False), (3, False), (0, True), (2, True), (3, True), (1, True))
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)

IDENTITY_COLOURS = tuple(range(10))
NAME_SEPARATOR = "|||"
_NAME = re.compile(r"(?P<task>[^|]+)\|\|\|t(?P<k>[0-9]+)\|\|\|(?P<colours>[0-9]{10})")


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Apply dihedral symmetry `k` (0-7) to the first two axes of `grid`; trailing axes (e.g. logits) ride along.

    Returns a new C-contiguous array of the same dtype (never a view of `grid`).
    """
    turns, flip = _QUARTER_TURNS_THEN_FLIP[_check_dihedral(k)]
    out = np.rot90(grid, turns)
    return np.array(out[:, ::-1] if flip else out, order="C", copy=True)


def inverse_dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Undo `dihedral(grid, k)`."""
    return dihedral(grid, DIHEDRAL_INVERSE[_check_dihedral(k)])


def swaps_sides(k: int) -> bool:
    """Whether dihedral symmetry `k` turns a rows x cols grid into a cols x rows one (odd quarter turns)."""
    turns, _ = _QUARTER_TURNS_THEN_FLIP[_check_dihedral(k)]
    return turns % 2 == 1


def _check_dihedral(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= 7:
        raise ValueError(f"dihedral id must be an integer 0-7, got {k!r}")
    return int(k)


@dataclass(frozen=True)
class Aug:
    """One augmented version: colour map, then dihedral symmetry; plus where grids sit on the canvas.

    `colours[c]` is the colour that `c` becomes (the official "mapping"). `translate` is the (row, col) offset
    at which encoding places grids; `apply` and `invert` ignore it.
    """

    dihedral: int = 0
    colours: tuple[int, ...] = IDENTITY_COLOURS
    translate: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        colours = tuple(int(c) for c in self.colours)
        if sorted(colours) != list(IDENTITY_COLOURS):
            raise ValueError(f"colours must be a permutation of 0-9, got {self.colours!r}")
        translate = tuple(int(t) for t in self.translate)
        if len(translate) != 2 or min(translate) < 0:
            raise ValueError(f"translate must be two non-negative ints (row, col), got {self.translate!r}")
        object.__setattr__(self, "dihedral", _check_dihedral(self.dihedral))
        object.__setattr__(self, "colours", colours)
        object.__setattr__(self, "translate", translate)

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """The augmented grid: `dihedral(colours[grid])` as a new uint8 array."""
        return dihedral(np.asarray(self.colours, np.uint8)[grid], self.dihedral)

    def invert(self, grid: np.ndarray) -> np.ndarray:
        """The original-frame grid of an augmented one: inverse dihedral, then the inverse colour map."""
        inverse_colours = np.argsort(self.colours).astype(np.uint8)
        return inverse_colours[inverse_dihedral(grid, self.dihedral)]

    @property
    def is_identity(self) -> bool:
        """True when the version is the task itself: no symmetry, no colour change, no translation."""
        return self.dihedral == 0 and self.colours == IDENTITY_COLOURS and self.translate == (0, 0)


IDENTITY = Aug()


# ---------------------------------------------------------------------------------------------- names


def format_name(task_id: str, aug: Aug) -> str:
    """The official puzzle name of a version, `taskid|||t<k>|||<colours>`; the bare id for the task itself.

    Translation is not part of official names.
    """
    if aug.dihedral == 0 and aug.colours == IDENTITY_COLOURS:
        return task_id
    colours = "".join(str(c) for c in aug.colours)
    return f"{task_id}{NAME_SEPARATOR}t{aug.dihedral}{NAME_SEPARATOR}{colours}"


def parse_name(name: str) -> tuple[str, Aug]:
    """Split an official puzzle name into task id and Aug (IDENTITY for a bare id); ValueError if malformed."""
    if name and "|" not in name:
        return name, IDENTITY
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"malformed puzzle name {name!r}: expected 'taskid' or 'taskid|||t<0-7>|||<10 digits>'")
    try:
        aug = Aug(int(match["k"]), tuple(int(c) for c in match["colours"]))
    except ValueError as error:
        raise ValueError(f"malformed puzzle name {name!r}: {error}") from None
    return match["task"], aug


# ---------------------------------------------------------------------------------------------- planning


def versions(
    task: Task, k: int, seed: int = 0, permute_background: bool = False, translate: int = 0, dihedral: bool = True
) -> list[Aug]:
    """Up to `k` distinct augmented versions of `task`, the identity first; deterministic for a seed.

    Each draw is a random dihedral id and colour permutation (colour 0 fixed unless `permute_background`).
    A draw whose augmented task (demonstrations and readable test inputs, pairs in any order) equals an
    earlier version's is skipped; after 5*k draws the plan stops, so tasks with few colours or symmetric grids
    get fewer than k versions. With `translate` > 0, each non-identity version gets a random offset
    (dr, dc), each in [0, translate] but no more than the room a 30x30 canvas leaves beside the task's
    largest grid, so that grids always fit a canvas of `task_encoding.task_canvas(task, translate)`. Offsets come
    from their own random stream: the symmetries and colour maps do not depend on `translate`. With
    `dihedral` off every version keeps the task's orientation (colour maps and offsets only).
    """
    if k <= 0:
        return []
    draws, shifts = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    largest = max((max(g.shape) for g in task.grids), default=1)
    shift = max(0, min(translate, MAX_SIDE - largest))
    augs, seen = [IDENTITY], {_fingerprint(task, IDENTITY)}
    for _ in range(5 * k):
        if len(augs) >= k:
            break
        symmetry = int(draws.integers(8)) if dihedral else 0
        aug = Aug(symmetry, _draw_colours(draws, permute_background))
        fingerprint = _fingerprint(task, aug)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        offset = (0, 0)
        if shift > 0:
            row, col = shifts.integers(0, shift + 1, size=2)
            offset = (int(row), int(col))
        augs.append(Aug(aug.dihedral, aug.colours, offset))
    return augs


def _draw_colours(rng: np.random.Generator, permute_background: bool) -> tuple[int, ...]:
    """A random colour permutation, keeping 0 (the background) in place unless asked not to."""
    if permute_background:
        return tuple(int(c) for c in rng.permutation(10))
    return (0,) + tuple(int(c) for c in rng.permutation(9) + 1)


def _fingerprint(task: Task, aug: Aug) -> bytes:
    """A digest of the augmented task's contents, independent of the order of its pairs and test inputs."""
    pairs = sorted(_grid_digest(aug.apply(a)) + _grid_digest(aug.apply(b)) for a, b in task.train)
    tests = sorted(_grid_digest(aug.apply(g)) for g in task.test_inputs if g is not None)
    return hashlib.sha256(b"".join(pairs) + b"|" + b"".join(tests)).digest()


def _grid_digest(grid: np.ndarray) -> bytes:
    """A digest of a grid's shape and cells."""
    return hashlib.sha256(bytes(grid.shape) + grid.tobytes()).digest()
