"""Command-line options that several commands share, declared once (Typer `Annotated` aliases)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

SolveConfigFile = Annotated[Optional[Path], typer.Option(
    "--config", help="YAML config (default: configs/cpu.yaml, the CPU default).")]
Overrides = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key: key.sub=value.")]
TimeBudget = Annotated[Optional[str], typer.Option(help="Wall-clock limit for the whole run: 90s, 45m, 12h.")]
CheckpointFile = Annotated[Optional[Path], typer.Option(
    "--checkpoint", help="Start every task from this pretrained model (ours, or an official TRM/HRM one).")]
Workers = Annotated[int, typer.Option(min=1, help="Processes to shard the tasks over (one per GPU).")]
Fresh = Annotated[bool, typer.Option(help="Ignore saved per-task results and start over.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Plain log lines instead of a live display.")]

REPO = Path(__file__).resolve().parent.parent  # the checkout, when arc-trm is installed from one


def repo_config(name: str) -> Path | None:
    """configs/NAME of the checkout; None where there is none (a wheel install: the dataclass defaults)."""
    path = REPO / "configs" / name
    return path if path.is_file() else None


@contextmanager
def input_errors(console: Console):
    """Bad input (a file, a config, an option, an unknown task id) as one red line naming it, and exit status 2."""
    try:
        yield
    except (ValueError, FileNotFoundError, KeyError) as err:  # ConfigError and CheckpointError are ValueErrors
        console.print(f"[red]error:[/] {err.args[0] if isinstance(err, KeyError) and err.args else err}")
        raise typer.Exit(2)
