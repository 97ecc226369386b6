"""Command-line options that several commands share, declared once (Typer `Annotated` aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

SolveConfigFile = Annotated[Optional[Path], typer.Option(
    "--config", help="YAML config (default: configs/cpu.yaml, the CPU default).")]
Overrides = Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key: key.sub=value.")]
TimeBudget = Annotated[Optional[str], typer.Option(help="Wall-clock limit for the whole run: 90s, 45m, 12h.")]
CheckpointFile = Annotated[Optional[Path], typer.Option(
    "--checkpoint", help="Start every task from this pretrained model (ours, or an official TRM/HRM one).")]
Workers = Annotated[int, typer.Option(min=1, help="Processes to shard the tasks over (one per GPU).")]
Fresh = Annotated[bool, typer.Option(help="Ignore saved per-task results and start over.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Plain log lines instead of a live display.")]
