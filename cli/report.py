"""`arc-trm report`: rebuild an evaluation run folder's report.html (and scores.json) from what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from arc_trm_cli.options import input_errors


def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A folder written by `arc-trm evaluate`.")],
    title: Annotated[Optional[str], typer.Option(help="Page title (default: the folder's name).")] = None,
) -> None:
    """Rebuild RUN_DIR/report.html: one self-contained page with every task's answers next to the truth."""
    console = Console()
    from arc_trm.evaluate import write_report  # torch (through solve): imported by the commands that need it

    with input_errors(console):
        path = write_report(run_dir, title)
    console.print(f"report written to {path}")
