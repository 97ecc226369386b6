"""Grids and tasks as coloured terminal pictures (rich), in the ARC palette."""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from arc_trm.core.tasks import Task

# The ARC palette, colour 0 to 9: black, blue, red, green, yellow, grey, magenta, orange, sky blue, maroon.
PALETTE = (
    "#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00",
    "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25",
)  # fmt: skip


_DARK = {0, 1, 9}  # colours on which the digit is written in white


def grid_text(grid: np.ndarray | None) -> Text:
    """A grid as rows of coloured cells, each showing its digit (readable in logs without colour too)."""
    if grid is None:
        return Text("(unreadable)", style="italic red")
    text = Text()
    for r, row in enumerate(grid):
        if r:
            text.append("\n")
        for cell in row:
            colour = int(cell)
            ink = "white" if colour in _DARK else "black"
            text.append(f"{colour} ", style=f"{ink} on {PALETTE[colour]}")
    return text


def _captioned(title: str, grid: np.ndarray | None) -> Group:
    size = "" if grid is None else f" {grid.shape[0]}x{grid.shape[1]}"
    return Group(Text(title + size, style="bold"), grid_text(grid))


def task_view(task: Task, answers: bool = True) -> Panel:
    """One panel per task: a row per demonstration (input, output), then a row per test input (and answer)."""
    table = Table.grid(padding=(0, 3))
    for i, (grid_in, grid_out) in enumerate(task.train):
        table.add_row(_captioned(f"train {i} in", grid_in), _captioned(f"train {i} out", grid_out))
    outputs = task.test_outputs if answers and task.test_outputs is not None else None
    for i, test_in in enumerate(task.test_inputs):
        answer = _captioned(f"test {i} out", outputs[i]) if outputs is not None else Text("?", style="dim")
        table.add_row(_captioned(f"test {i} in", test_in), answer)
    subtitle = "; ".join(str(p) for p in task.problems) or None
    return Panel(table, title=f"{task.id} ({task.source})", subtitle=subtitle, expand=False)
