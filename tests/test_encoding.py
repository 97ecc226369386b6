"""Tests for arc_trm.data.encoding: token layout, the official crop rule, canvas sizes, official fixture parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arc_trm.core.tasks import Task, load
from arc_trm.data.encoding import EOS, OFFICIAL_CANVAS, PAD, VOCAB_SIZE, decode, encode
from arc_trm.data.task_encoding import task_canvas as canvas_size

FIXTURES = ("official_att", "official_mlp", "official_hrm")
G = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)

# ---------------------------------------------------------------------------------------------- encode


def test_constants():
    assert (PAD, EOS, VOCAB_SIZE, OFFICIAL_CANVAS) == (0, 1, 12, 30)


def test_encode_by_hand():
    expected = [
        2, 3, 4, 1,
        5, 6, 7, 1,
        1, 1, 1, 0,
        0, 0, 0, 0,
    ]  # fmt: skip
    out = encode(G, canvas=4)
    assert out.dtype == np.uint8 and out.shape == (16,)
    assert out.tolist() == expected


@pytest.mark.parametrize(
    "offset, expected",
    [
        ((1, 0), [0, 0, 0, 0,  2, 3, 4, 1,  5, 6, 7, 1,  1, 1, 1, 0]),
        ((0, 1), [0, 2, 3, 4,  0, 5, 6, 7,  0, 1, 1, 1,  0, 0, 0, 0]),  # no room for the EOS column
        ((2, 1), [0, 0, 0, 0,  0, 0, 0, 0,  0, 2, 3, 4,  0, 5, 6, 7]),  # no room for either
        ((1, 1), [0, 0, 0, 0,  0, 2, 3, 4,  0, 5, 6, 7,  0, 1, 1, 1]),
    ],
)  # fmt: skip
def test_encode_offset_by_hand(offset, expected):
    assert encode(G, canvas=4, offset=offset).tolist() == expected


def test_encode_full_canvas_has_no_markers():
    grid = np.arange(900).reshape(30, 30) % 10
    out = encode(grid)
    assert out.min() >= 2 and np.array_equal(out, (grid + 2).reshape(-1))
    np.testing.assert_array_equal(decode(out), grid)


def test_encode_official_layout_on_30():
    out = encode(G).reshape(30, 30)
    np.testing.assert_array_equal(out[:2, :3], G + 2)
    assert (out[2, :3] == EOS).all() and (out[:2, 3] == EOS).all() and out[2, 3] == PAD
    assert (out != PAD).sum() == 6 + 3 + 2


@pytest.mark.parametrize(
    "grid, canvas, offset",
    [
        (np.zeros((5, 3)), 4, (0, 0)),  # too tall
        (np.zeros((2, 3)), 4, (3, 0)),  # pushed off the bottom
        (np.zeros((2, 3)), 4, (0, 2)),  # pushed off the right
        (np.zeros((2, 3)), 4, (-1, 0)),
        (np.zeros((31, 1)), 30, (0, 0)),
        (np.zeros((0, 3)), 4, (0, 0)),  # empty
        (np.zeros(3), 4, (0, 0)),  # not 2-D
        (np.full((2, 2), 10), 4, (0, 0)),  # not a colour
    ],
)
def test_encode_rejects(grid, canvas, offset):
    with pytest.raises(ValueError):
        encode(grid, canvas, offset)


# ---------------------------------------------------------------------------------------------- decode


@st.composite
def grid_on_canvas(draw):
    """A random grid, a canvas from its size + 1 up to 30, and an offset that fits."""
    grid = draw(arrays(np.uint8, st.tuples(st.integers(1, 29), st.integers(1, 29)), elements=st.integers(0, 9)))
    canvas = draw(st.integers(max(grid.shape) + 1, 30))
    return grid, canvas


@settings(max_examples=200, deadline=None)
@given(grid_on_canvas())
def test_decode_inverts_encode(case):
    grid, canvas = case
    tokens = encode(grid, canvas)
    np.testing.assert_array_equal(decode(tokens, canvas), grid)
    np.testing.assert_array_equal(decode(tokens.reshape(canvas, canvas).astype(np.int64), canvas), grid)


def _canvas(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, np.int32)


@pytest.mark.parametrize(
    "tokens, expected",
    [
        # widths 3, 2, 2, 1 -> areas 3, 4, 6, 4: three rows of two
        ([[2, 3, 4, 1], [5, 6, 1, 0], [7, 8, 1, 0], [9, 1, 0, 0]], [[0, 1], [3, 4], [5, 6]]),
        # widths 4, 4, 1, 1 -> areas 4, 8, 3, 4: two full rows
        ([[2, 2, 2, 2], [3, 3, 3, 3], [4, 0, 0, 0], [5, 0, 0, 0]], [[0, 0, 0, 0], [1, 1, 1, 1]]),
        # the width never grows back: one column of four, not the 3x4 block below the first row
        ([[3, 1, 0, 0], [3, 3, 3, 3], [3, 3, 3, 3], [3, 3, 3, 3]], [[1], [1], [1], [1]]),
        # a tie (areas 2, 2) keeps the first rectangle
        ([[2, 3, 1, 0], [4, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], [[0, 1]]),
        # a pad ends a row as an end-of-grid marker does; stray colours beyond it are ignored
        ([[11, 11, 0, 11], [11, 11, 0, 0], [0, 0, 0, 0], [11, 0, 0, 0]], [[9, 9], [9, 9]]),
    ],
)
def test_decode_crops_largest_top_left_rectangle(tokens, expected):
    out = decode(_canvas(tokens), canvas=4)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "tokens",
    [
        np.zeros(16, np.int64),  # all pad
        np.array([1] + [2] * 15),  # end-of-grid marker at [0, 0]
        np.array([0] + [2] * 15),  # pad at [0, 0]
        np.full(15, 2),  # wrong length
        np.full(17, 2),
        np.full((2, 8), 2),  # right size, wrong shape
        np.array([2] * 15 + [12]),  # token outside the vocabulary
        np.array([2] * 15 + [255], np.uint8),
        np.array([2] * 15 + [-1]),
        np.full(16, 2.0),  # not integers
        np.zeros((0,), np.int64),
    ],
)
def test_decode_garbage_is_none(tokens):
    assert decode(tokens, canvas=4) is None


def test_decode_accepts_any_integer_dtype():
    tokens = encode(G, canvas=4)
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.int64, np.uint16):
        np.testing.assert_array_equal(decode(tokens.astype(dtype), canvas=4), G)
    np.testing.assert_array_equal(decode(tokens.tolist(), canvas=4), G)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("fixture", FIXTURES)
def test_official_fixture_round_trip(reference_dir, fixture):
    """Every row of the official batch decodes to a grid that encodes back to the very same tokens."""
    batch = np.load(reference_dir / fixture / "batch.npz")
    canvas = int(np.sqrt(batch["inputs"].shape[1]))
    for key in ("inputs", "labels"):
        for row in batch[key]:
            grid = decode(row, canvas)
            assert grid is not None and grid.size > 1
            np.testing.assert_array_equal(encode(grid, canvas), row)


# ---------------------------------------------------------------------------------------------- canvas_size


@pytest.fixture(scope="module")
def arc1_train():
    return load("arc1-train")


@pytest.mark.parametrize(
    "task_id, size",
    [
        ("007bbfb7", 10),  # 3x3 -> 9x9
        ("017c7c7b", 10),  # 6x3 -> 9x3
        ("025d127b", 15),  # 14x9 demonstrations, 10x10 test input
        ("0520fde7", 8),  # 3x7 -> 3x3
        ("1f85a75f", 30),  # 30x30 inputs
    ],
)
def test_canvas_size_real_tasks(arc1_train, task_id, size):
    assert canvas_size(arc1_train[task_id]) == size


def test_canvas_size_translate_and_cap(arc1_train):
    task = arc1_train["007bbfb7"]
    assert canvas_size(task, translate=4) == 14
    assert canvas_size(task, translate=50) == 30
    assert canvas_size(arc1_train["1f85a75f"], translate=3) == 30
    with pytest.raises(ValueError):
        canvas_size(task, translate=-1)


def test_canvas_size_fits_every_grid(arc1_train):
    for task in arc1_train:
        size = canvas_size(task)
        for grid in task.grids:
            np.testing.assert_array_equal(decode(encode(grid, size), size), grid)


def test_canvas_size_ignores_unreadable_test_inputs_and_needs_a_grid():
    small = np.zeros((2, 5), np.uint8)
    assert canvas_size(Task("t", [(small, small)], [None, small])) == 6
    with pytest.raises(ValueError, match="no readable grid"):
        canvas_size(Task("empty", [], [None]))
