"""The primitive finder of benchmarks/primitives.py: each primitive on hand-made grids, real tasks, the JSON list."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` lives at the repository root

from arc_trm.core.tasks import Task, load
from benchmarks import primitives as P

G = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
H = np.array([[0, 7], [8, 9], [7, 7]], dtype=np.uint8)


def fitted(name: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> P.Fit | None:
    return P.primitives()[name](pairs)


def task(pairs, test_in, test_out) -> Task:
    return Task("hand", list(pairs), [test_in], [test_out])


@pytest.fixture(scope="module")
def arc1():
    return {split: load(split) for split in P.SPLITS}


@pytest.mark.parametrize(
    "name, transform",
    [
        ("rot90", np.rot90),
        ("rot180", lambda g: np.rot90(g, 2)),
        ("rot270", lambda g: np.rot90(g, 3)),
        ("fliplr", np.fliplr),
        ("flipud", np.flipud),
        ("transpose", np.transpose),
        ("anti-transpose", lambda g: np.rot90(g, 2).T),
    ],
)
def test_dihedral_primitives_fit_their_transform_only(name, transform):
    pairs = [(G, transform(G)), (H, transform(H))]
    fit = fitted(name, pairs)
    assert fit is not None and P.same(fit.apply(H.T), transform(H.T))
    others = [n for n in P.DIHEDRAL_NAMES.values() if n != name]
    assert all(fitted(n, pairs) is None for n in others)


def test_colour_map_is_learned_across_demonstrations_and_must_cover_the_test():
    table = np.array([5, 1, 2, 3, 4, 0, 6, 7, 8, 9], dtype=np.uint8)
    fit = fitted("colour map", [(G, table[G]), (H, table[H])])
    assert fit is not None and fit.detail == "colour map 0->5 5->0"
    assert P.same(fit.apply(H[::-1]), table[H[::-1]])
    only_g = fitted("colour map", [(G, table[G])])
    assert only_g is not None and only_g.apply(np.array([[1, 0]], dtype=np.uint8)) is None  # 0 not in G
    assert fitted("colour map", [(G, table[G]), (G, G)]) is None  # inconsistent
    assert fitted("colour map", [(G, np.zeros((2, 2), np.uint8))]) is None  # shape changes
    two_targets = G.copy()
    two_targets[0, 0] = 9
    assert fitted("colour map", [(np.ones_like(G), two_targets)]) is None  # one colour, two outputs


def test_dihedral_then_colour_map():
    table = np.arange(10, dtype=np.uint8)[::-1].copy()
    pairs = [(g, table[g.T]) for g in (G, H)]
    assert fitted("colour map", pairs) is None and fitted("transpose", pairs) is None
    fit = fitted("dihedral+colour map", pairs)
    assert fit is not None and fit.detail.startswith("transpose + colour map")
    assert P.same(fit.apply(H), table[H.T])


@pytest.mark.parametrize("variant", list(P.MIRRORS))
def test_mirror_variants(variant):
    mirror = P.MIRRORS[variant]
    fit = fitted("mirror", [(G, mirror(G)), (H, mirror(H))])
    assert fit is not None and fit.detail == f"mirror {variant}"
    assert P.same(fit.apply(G.T), mirror(G.T))


def test_mirror_2x2_layout():
    q = np.array([[1, 2]], dtype=np.uint8)
    assert P.MIRRORS["2x2 from input"](q).tolist() == [[1, 2, 2, 1], [1, 2, 2, 1]]
    assert P.MIRRORS["2x2 from fliplr"](q).tolist() == [[2, 1, 1, 2], [2, 1, 1, 2]]


def test_tile_and_upscale_read_their_factor_from_the_sizes():
    tile = fitted("tile", [(G, np.tile(G, (2, 3))), (H, np.tile(H, (2, 3)))])
    assert tile is not None and tile.detail == "tile 2x3" and P.same(tile.apply(H.T), np.tile(H.T, (2, 3)))
    big = np.kron(G, np.ones((3, 2), dtype=np.uint8))
    up = fitted("upscale", [(G, big)])
    assert up is not None and up.detail == "upscale 3x2" and P.same(up.apply(G), big)
    assert fitted("tile", [(G, big)]) is None and fitted("upscale", [(G, np.tile(G, (3, 2)))]) is None
    assert fitted("tile", [(G, np.tile(G, (5, 1)))]) is None  # beyond MAX_TILE
    assert fitted("upscale", [(G, np.kron(G, np.ones((2, 2), np.uint8))), (H, np.tile(H, (3, 3)))]) is None
    assert fitted("tile", [(G, G)]) is None and fitted("upscale", [(G, G)]) is None


def test_check_needs_demonstrations_and_test_to_agree():
    pairs = [(G, np.rot90(G, 2)), (H, np.rot90(H, 2))]
    assert P.check(task(pairs, H.T, np.rot90(H.T, 2))) == ("rot180", ["rot180", "dihedral+colour map"])
    wrong = task(pairs, H.T, H.T)
    assert P.check(wrong)[0] is None and P.near_misses([wrong]) == {"hand": ["rot180", "dihedral+colour map"]}
    assert P.find([wrong, task(pairs, G, np.rot90(G, 2))]) == {"hand": "rot180"}


@pytest.mark.parametrize(
    "split, task_id, name",
    [
        ("arc1-train", "3c9b0459", "rot180"),
        ("arc1-train", "74dd1130", "transpose"),
        ("arc1-train", "0d3d703e", "colour map"),
        ("arc1-train", "6d0aefbc", "mirror"),
        ("arc1-train", "a416b8f3", "tile"),
        ("arc1-train", "c59eb873", "upscale"),
        ("arc1-eval", "833dafe3", "mirror"),
    ],
)
def test_known_real_tasks(arc1, split, task_id, name):
    assert P.find([arc1[split][task_id]]) == {task_id: name}


def test_demos_fit_but_test_fails_is_not_found(arc1):
    t = arc1["arc1-train"]["aabf363d"]  # colour map on the demos, but the test input has an unseen colour
    assert P.find([t]) == {} and P.near_misses([t]) == {"aabf363d": ["colour map"]}


def test_committed_json_matches_find(arc1):
    committed = json.loads(P.JSON_PATH.read_text())
    assert set(committed) == set(P.SPLITS)
    for split in P.SPLITS:
        some = list(committed[split])[:4] + arc1[split].ids[:3] + ["aabf363d"]
        tasks = [arc1[split][i] for i in some if i in arc1[split].ids]
        assert P.find(tasks) == {i: committed[split][i] for i in some if i in committed[split]}
