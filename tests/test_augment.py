"""Tests for arc_trm.data.augment: dihedral ids, Aug apply/invert, official names, the augmentation planner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arc_trm.core.tasks import Task, load
from arc_trm.data.augment import (
    DIHEDRAL_INVERSE,
    IDENTITY,
    Aug,
    dihedral,
    format_name,
    inverse_dihedral,
    parse_name,
    swaps_sides,
    versions,
)
from arc_trm.data.encoding import decode, encode

FIXTURES = ("official_att", "official_mlp", "official_hrm")
G = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)

# ---------------------------------------------------------------------------------------------- strategies

grids = arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30)), elements=st.integers(0, 9))
dihedral_ids = st.integers(0, 7)


@st.composite
def colour_maps(draw, fix_background: bool | None = None) -> tuple[int, ...]:
    """A permutation of 0-9; with colour 0 fixed when asked (or at random when fix_background is None)."""
    fixed = draw(st.booleans()) if fix_background is None else fix_background
    if fixed:
        return (0,) + tuple(draw(st.permutations(range(1, 10))))
    return tuple(draw(st.permutations(range(10))))


# ---------------------------------------------------------------------------------------------- dihedral


@pytest.mark.parametrize(
    "k, expected",
    [
        (0, [[1, 2, 3], [4, 5, 6]]),  # identity
        (1, [[3, 6], [2, 5], [1, 4]]),  # rot90: a quarter turn counter-clockwise
        (2, [[6, 5, 4], [3, 2, 1]]),  # rot180
        (3, [[4, 1], [5, 2], [6, 3]]),  # rot270: a quarter turn clockwise
        (4, [[3, 2, 1], [6, 5, 4]]),  # fliplr: mirror left-right
        (5, [[4, 5, 6], [1, 2, 3]]),  # flipud: mirror top-bottom
        (6, [[1, 4], [2, 5], [3, 6]]),  # transpose
        (7, [[6, 3], [5, 2], [4, 1]]),  # anti-transpose
    ],
)
def test_dihedral_by_hand(k, expected):
    out = dihedral(G, k)
    np.testing.assert_array_equal(out, np.array(expected))
    np.testing.assert_array_equal(inverse_dihedral(out, k), G)


def test_swaps_sides_says_which_symmetries_turn_the_shape():
    assert [swaps_sides(k) for k in range(8)] == [dihedral(np.zeros((2, 3)), k).shape == (3, 2) for k in range(8)]
    assert [k for k in range(8) if swaps_sides(k)] == [1, 3, 6, 7]


def test_dihedral_inverse_table_composes_to_identity():
    for k, inv in enumerate(DIHEDRAL_INVERSE):
        np.testing.assert_array_equal(dihedral(dihedral(G, k), inv), G)


def test_dihedral_returns_fresh_contiguous_copy():
    for k in range(8):
        out = dihedral(G, k)
        assert out.flags.c_contiguous and not np.shares_memory(out, G) and out.dtype == G.dtype


def test_dihedral_carries_trailing_axes():
    logits = np.random.default_rng(0).random((2, 3, 4))
    for k in range(8):
        out = dihedral(logits, k)
        for v in range(4):
            np.testing.assert_array_equal(out[..., v], dihedral(logits[..., v], k))


@pytest.mark.parametrize("k", [-1, 8, 1.0, True, "1"])
def test_dihedral_rejects_bad_id(k):
    with pytest.raises(ValueError, match="dihedral id"):
        dihedral(G, k)


@settings(max_examples=200, deadline=None)
@given(grids, dihedral_ids)
def test_dihedral_round_trip(grid, k):
    np.testing.assert_array_equal(inverse_dihedral(dihedral(grid, k), k), grid)


# ---------------------------------------------------------------------------------------------- Aug


def test_colour_map_by_hand():
    aug = Aug(0, (0, 3, 6, 7, 5, 1, 4, 2, 8, 9))  # 1->3, 2->6, 3->7, 4->5, 5->1, 6->4
    np.testing.assert_array_equal(aug.apply(G), [[3, 6, 7], [5, 1, 4]])
    flipped = Aug(5, aug.colours)  # then mirror top-bottom
    np.testing.assert_array_equal(flipped.apply(G), [[5, 1, 4], [3, 6, 7]])
    np.testing.assert_array_equal(flipped.invert(np.array([[5, 1, 4], [3, 6, 7]])), G)


def test_apply_and_invert_return_fresh_uint8():
    aug = Aug(3, (0, 2, 1, 3, 4, 5, 6, 7, 8, 9))
    for out in (aug.apply(G), aug.invert(G), IDENTITY.apply(G), IDENTITY.invert(G)):
        assert out.dtype == np.uint8 and out.flags.c_contiguous and not np.shares_memory(out, G)


@settings(max_examples=200, deadline=None)
@given(grids, dihedral_ids, colour_maps())
def test_invert_undoes_apply(grid, k, colours):
    aug = Aug(k, colours)
    np.testing.assert_array_equal(aug.invert(aug.apply(grid)), grid)
    np.testing.assert_array_equal(aug.apply(aug.invert(grid)), grid)


@settings(max_examples=100, deadline=None)
@given(grids, colour_maps(fix_background=True))
def test_fixed_background_stays_put(grid, colours):
    out = Aug(0, colours).apply(grid)
    np.testing.assert_array_equal(out == 0, grid == 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(colours=(0, 1, 2)), "permutation"),
        (dict(colours=(0, 0, 2, 3, 4, 5, 6, 7, 8, 9)), "permutation"),
        (dict(colours=tuple(range(1, 11))), "permutation"),
        (dict(dihedral=8), "dihedral"),
        (dict(translate=(-1, 0)), "translate"),
        (dict(translate=(1, 2, 3)), "translate"),
    ],
)
def test_aug_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Aug(**kwargs)


def test_aug_normalises_and_identity():
    aug = Aug(np.int64(2), list(np.arange(10)), [1, 2])
    assert aug == Aug(2, tuple(range(10)), (1, 2)) and hash(aug) == hash(Aug(2, tuple(range(10)), (1, 2)))
    assert IDENTITY.is_identity and Aug().is_identity
    assert not Aug(1).is_identity
    assert not Aug(colours=(0, 2, 1, 3, 4, 5, 6, 7, 8, 9)).is_identity
    assert not Aug(translate=(0, 1)).is_identity


# ---------------------------------------------------------------------------------------------- names


def test_names_by_hand():
    aug = Aug(5, (0, 3, 6, 7, 5, 1, 4, 2, 8, 9))
    assert format_name("281123b4", aug) == "281123b4|||t5|||0367514289"
    assert parse_name("281123b4|||t5|||0367514289") == ("281123b4", aug)
    assert format_name("281123b4", IDENTITY) == "281123b4"
    assert format_name("281123b4", Aug(translate=(2, 3))) == "281123b4"  # translation is not named
    assert parse_name("281123b4") == ("281123b4", IDENTITY)
    assert format_name("x", Aug(0, (0, 2, 1, 3, 4, 5, 6, 7, 8, 9))) == "x|||t0|||0213456789"


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789abcdef", min_size=1, max_size=12), dihedral_ids, colour_maps())
def test_name_round_trip(task_id, k, colours):
    aug = Aug(k, colours)
    assert parse_name(format_name(task_id, aug)) == (task_id, aug)


@pytest.mark.parametrize(
    "name",
    [
        "abc||t1||0123456789",  # wrong separators
        "abc|||t1||0123456789",
        "abc|t1|0123456789",
        "abc|||1|||0123456789",  # no 't'
        "abc|||t8|||0123456789",  # dihedral id out of range
        "abc|||t12|||0123456789",
        "abc|||t1|||012345678",  # nine digits
        "abc|||t1|||01234567890",  # eleven digits
        "abc|||t1|||0123456788",  # not a permutation
        "abc|||t1|||012345678x",
        "|||t1|||0123456789",  # no task id
        "abc|||t1|||0123456789|||t1|||0123456789",
        "",
    ],
)
def test_parse_name_rejects_malformed(name):
    with pytest.raises(ValueError) as info:
        parse_name(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_official_fixture_augmentations(reference_dir, fixture):
    """Decode each plain row, augment it as its partner row's name says, and get the official tokens back."""
    folder = reference_dir / fixture
    names = json.loads((folder / "config.json").read_text())["puzzle_names"]
    batch = np.load(folder / "batch.npz")
    canvas = int(np.sqrt(batch["inputs"].shape[1]))
    pairs = [(i, i + 1) for i in range(len(names) - 1) if "|" not in names[i] and "|" in names[i + 1]]
    assert len(pairs) == 2
    for plain, augmented in pairs:
        task_id, aug = parse_name(names[augmented])
        assert task_id == names[plain] and not aug.is_identity
        for key in ("inputs", "labels"):
            grid = decode(batch[key][plain], canvas)
            np.testing.assert_array_equal(encode(aug.apply(grid), canvas), batch[key][augmented])
            np.testing.assert_array_equal(aug.invert(decode(batch[key][augmented], canvas)), grid)


# ---------------------------------------------------------------------------------------------- plan


@pytest.fixture(scope="module")
def arc1_train():
    return load("arc1-train")


def _contents(task: Task, aug: Aug) -> tuple:
    """The augmented task's grids, independent of pair order, for checking distinctness."""

    def key(g):
        g = aug.apply(g)
        return g.shape, g.tobytes()

    pairs = sorted((key(a), key(b)) for a, b in task.train)
    return tuple(pairs), tuple(sorted(key(g) for g in task.test_inputs if g is not None))


def test_plan_identity_first_distinct_and_deterministic(arc1_train):
    for task in list(arc1_train)[:10]:
        augs = versions(task, 16, seed=3)
        assert len(augs) == 16 and augs[0] == IDENTITY
        assert len({_contents(task, a) for a in augs}) == 16
        assert all(a.colours[0] == 0 and a.translate == (0, 0) for a in augs)
        assert versions(task, 16, seed=3) == augs
        assert versions(task, 16, seed=4) != augs
        assert versions(task, 5, seed=3) == augs[:5]


def test_plan_sizes(arc1_train):
    task = arc1_train["007bbfb7"]
    assert versions(task, 0) == [] and versions(task, 1) == [IDENTITY]
    augs = versions(task, 200, seed=0)
    assert 150 <= len(augs) <= 200 and len(set(augs)) == len(augs)


def test_plan_stops_short_for_symmetric_one_colour_task():
    blank = np.zeros((3, 3), np.uint8)
    assert versions(Task("blank", [(blank, blank)], [blank]), 10) == [IDENTITY]
    green = np.full((4, 4), 3, np.uint8)
    task = Task("green", [(green, green)], [green])
    assert len(versions(task, 50)) == 9  # only where colour 3 goes matters: 1-9
    assert len(versions(task, 50, permute_background=True)) == 10


def test_plan_background(arc1_train):
    task = arc1_train["007bbfb7"]
    assert all(a.colours[0] == 0 for a in versions(task, 50, seed=1))
    assert any(a.colours[0] != 0 for a in versions(task, 50, seed=1, permute_background=True))


def test_plan_translate(arc1_train):
    task = arc1_train["007bbfb7"]  # largest grid 9x9
    augs = versions(task, 100, seed=2, translate=3)
    assert augs[0] == IDENTITY
    offsets = {a.translate for a in augs[1:]}
    assert all(0 <= r <= 3 and 0 <= c <= 3 for r, c in offsets) and len(offsets) > 8
    assert [(a.dihedral, a.colours) for a in augs] == [(a.dihedral, a.colours) for a in versions(task, 100, seed=2)]
    big = np.zeros((28, 5), np.uint8)
    big[0, 0] = 1
    assert all(max(a.translate) <= 2 for a in versions(Task("big", [(big, big)], [big]), 50, translate=5))
