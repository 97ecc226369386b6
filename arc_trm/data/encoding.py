"""Grids as token sequences: the official TRM encoding (TRM_SPEC 4.4) on a square canvas of any size.

Tokens: 0 pad, 1 end-of-grid marker, colour c -> c + 2. A grid sits on a canvas of pads at an offset, with a
row of markers directly below it and a column of markers directly right of it (where the canvas has room;
the corner between them stays pad), flattened row-major. With the official 30x30 canvas this is exactly the
official encoding. `decode` reads a grid back with the official evaluator's crop rule.
"""

from __future__ import annotations

import numpy as np

PAD = 0
EOS = 1
COLOUR_OFFSET = 2
VOCAB_SIZE = 12
OFFICIAL_CANVAS = 30


def encode(grid: np.ndarray, canvas: int = OFFICIAL_CANVAS, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The (canvas*canvas,) uint8 tokens of `grid` placed at `offset` (row, col); ValueError if it does not fit."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"expected a non-empty 2-D grid, got shape {grid.shape}")
    if grid.min() < 0 or grid.max() > 9:
        raise ValueError(f"grid values must be colours 0-9, got {grid.min()}..{grid.max()}")
    (h, w), (r, c) = grid.shape, offset
    if r < 0 or c < 0 or r + h > canvas or c + w > canvas:
        raise ValueError(f"a {h}x{w} grid at offset {offset} does not fit a {canvas}x{canvas} canvas")
    tokens = np.full((canvas, canvas), PAD, np.uint8)
    tokens[r : r + h, c : c + w] = grid + COLOUR_OFFSET
    if r + h < canvas:
        tokens[r + h, c : c + w] = EOS
    if c + w < canvas:
        tokens[r : r + h, c + w] = EOS
    return tokens.reshape(-1)


def decode(tokens: np.ndarray, canvas: int = OFFICIAL_CANVAS) -> np.ndarray | None:
    """The grid at the top-left of a token canvas, or None when there is none.

    Official crop rule: scanning rows from the top, the width shrinks to the run of colour tokens at the start
    of each row; of these top-left rectangles, the first of largest area is kept. Accepts flat or square
    input of any integer dtype; returns None (never raises) for a wrong size, a token outside the vocabulary,
    or an empty crop (the first cell is not a colour).
    """
    tokens = np.asarray(tokens)
    if not np.issubdtype(tokens.dtype, np.integer) or tokens.shape not in ((canvas * canvas,), (canvas, canvas)):
        return None
    tokens = tokens.reshape(canvas, canvas).astype(np.int64)
    if tokens.min() < 0 or tokens.max() >= VOCAB_SIZE:
        return None
    is_colour = tokens >= COLOUR_OFFSET
    runs = np.where(is_colour.all(axis=1), canvas, np.argmin(is_colour, axis=1))  # leading colours per row
    widths = np.minimum.accumulate(runs)
    areas = np.arange(1, canvas + 1) * widths
    rows = int(np.argmax(areas)) + 1
    if areas[rows - 1] == 0:
        return None
    return (tokens[:rows, : widths[rows - 1]] - COLOUR_OFFSET).astype(np.uint8)
