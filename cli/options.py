"""Command-line options that several commands share, declared once (Typer `Annotated` aliases)."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core
from rich.console import Console

SolveConfigFile = Annotated[Optional[Path], typer.Option(
    "--config", help="YAML config (default: configs/cpu.yaml, the CPU default).")]
Overrides = Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE",
                                                       help="Override a config key: key.sub=value (repeatable).")]
TimeBudget = Annotated[Optional[str], typer.Option(help="Wall-clock limit for the whole run: 90s, 45m, 12h.")]
CheckpointFile = Annotated[Optional[Path], typer.Option(
    "--checkpoint", help="Start every task from this pretrained model (ours, or an official TRM/HRM one).")]
Workers = Annotated[int, typer.Option(min=1, help="Processes to shard the tasks over (one per GPU).")]
Ids = Annotated[Optional[str], typer.Option("--ids", help="Only these task ids (comma-separated), in this order.")]
Limit = Annotated[Optional[int], typer.Option(min=1, help="Only the first N tasks (after --ids).")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1, auto (the same as --set device=...).")]
Seed = Annotated[Optional[int], typer.Option(help="The seed of augmentations and weights (--set seed=...).")]
Fresh = Annotated[bool, typer.Option(metavar="", help="Ignore saved per-task results and start over.")]
Quiet = Annotated[bool, typer.Option(
    "--quiet", "-q", metavar="", help="Plain lines only: no live display and no tables (the same in every command).")]

def id_list(ids: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c'] (None when not given)."""
    return [i.strip() for i in ids.split(",") if i.strip()] if ids else None


def shortcuts(overrides: list[str] | None, device: str | None, seed: int | None) -> list[str]:
    """--set overrides with --device and --seed appended, which they stand for."""
    return [*(overrides or []), *([f"device={device}"] if device else []), *([f"seed={seed}"] if seed is not None else [])]


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


class Command(typer.core.TyperCommand):
    """A command whose help screen reflows its docstring's paragraphs (Typer keeps their line breaks) and shows
    -h/--help without a type column (Typer's own flag shows `<bool>`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help = _reflow(self.help)

    def get_help_option(self, ctx):
        return _without_type(super().get_help_option(ctx))


class Group(typer.core.TyperGroup):
    """A group of commands with the same help option as `Command`."""

    def get_help_option(self, ctx):
        return _without_type(super().get_help_option(ctx))


def _without_type(option):
    if option is not None:
        option.metavar = ""
    return option


def _reflow(text: str | None) -> str | None:
    """Each paragraph on one line, except those with indented lines (examples keep their layout).

    Why not Typer's rich_markup_mode="markdown", which also joins a paragraph's lines: it reads every help text
    as Markdown, so `*` and `_` in file patterns and names (*_solutions.json, N_sup) would need escaping in each
    string; this keeps the text as written."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split("\n"))
                       for p in paragraphs)
