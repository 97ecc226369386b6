"""Command-line options that several commands share, declared once (Typer `Annotated` aliases), and GRAMMAR, the
table of every command's arguments and options."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NamedTuple

import typer
import typer.core
from rich.console import Console

from arc_trm.core.tasks import SPLITS

SolveConfigFile = Annotated[
    Path | None, typer.Option("--config", help="YAML config (default: configs/cpu.yaml, the CPU default).")
]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="Override a config key: key.sub=value (repeatable)."),
]
TimeBudget = Annotated[str | None, typer.Option(help="Wall-clock limit for the whole run: 90s, 45m, 12h.")]
CheckpointFile = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint", help="Start every task from this pretrained model (ours, or an official TRM/HRM one)."
    ),
]
Workers = Annotated[int, typer.Option(min=1, help="Processes to shard the tasks over (one per GPU).")]
Ids = Annotated[str | None, typer.Option("--ids", help="Only these task ids (comma-separated), in this order.")]
Limit = Annotated[int | None, typer.Option(min=1, help="Only the first N tasks (after --ids).")]
Device = Annotated[
    str | None,
    typer.Option(
        help="Where to run: auto (a GPU when there is one, else the CPU), cpu, cuda or cuda:N (default: the config's "
        "device where the command reads a config, else auto)."
    ),
]
Seed = Annotated[int | None, typer.Option(help="The seed of augmentations and weights (--set seed=...).")]
Fresh = Annotated[bool, typer.Option(metavar="", help="Ignore what an earlier run saved in --out and start over.")]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", metavar="", help="Plain lines only: no live display and no tables.")
]
Solutions = Annotated[
    str | None,
    typer.Option(
        help=f"The answers: a Kaggle solutions file, task files or a challenges file holding them, or a split "
        f"({', '.join(SPLITS)})."
    ),
]
Data = Annotated[
    str | None,
    typer.Option(help="The data build: arc1 or arc2 (the paper's), or a YAML file of the official build's settings."),
]
SubmissionFile = Annotated[Path, typer.Argument(metavar="SUB", help="A submission.json (Kaggle's format).")]


class Name(NamedTuple):
    """A name of the grammar: the commands that take it, and what each of them words for itself."""

    commands: str  # comma-separated: "solve, kaggle build" ("arc-trm" is the root)
    own: str = ""  # "help" and/or "default": each command's own; all else (flags, type, ...) is the same everywhere


# The grammar of the command line: every argument and option of every command, by name. A name means one thing
# wherever it appears: the same flags, type, default and help (the aliases above declare them once), except what
# its entry lets each command word for itself. tests/test_cli_grammar.py holds the commands to this table; there
# are no hidden options (no legacy aliases). The rules it writes down:
# - TASKS, the positional argument, is the task input (a folder, a task file, a challenges file or a split) of
#   every command that reads tasks; --ids and --limit pick among them. Answers are --solutions (a file or a split).
# - The file or folder a command writes, where the user picks it, is --out/-o (report writes beside its RUN).
# - --quiet/-q where there is a live display or a table to leave out; --device, auto unless the config says;
#   --strict on solve only, whose exit status is otherwise 0 whenever a submission is written (DESIGN.md).
GRAMMAR: dict[str, Name] = {
    "--version": Name("arc-trm"),
    # task inputs, answers, submissions
    # what the tasks are for, and whether there is a fallback (solve: the examples; report: an evaluation folder)
    "TASKS": Name("solve, evaluate, validate, show, report", own="help default"),
    "--ids": Name("solve, evaluate, show, reproduce"),
    "--limit": Name("solve, evaluate, show, reproduce"),
    "--solutions": Name("score, evaluate"),
    "SUB": Name("score, validate"),
    "RUN": Name("report"),
    "CKPT": Name("reproduce"),
    "FIXTURE_DIR": Name("parity"),
    "--data": Name("reproduce, train"),
    # outputs
    "--out": Name("solve, evaluate, score, parity, reproduce, train, kaggle build", own="help default"),  # what, where
    "--quiet": Name("solve, evaluate, score, parity, reproduce"),
    "--fresh": Name("solve, evaluate, train"),
    # the run: its config, where and how long
    "--config": Name("solve, evaluate, train, kaggle build", own="help"),  # each command's default config
    "--set": Name("solve, evaluate, train, kaggle build"),
    "--device": Name("solve, evaluate, reproduce, parity"),
    "--seed": Name("solve, evaluate"),
    "--time-budget": Name("solve, evaluate, kaggle build", own="default"),  # none, but a Kaggle notebook's is 11h30m
    "--checkpoint": Name("solve, evaluate, kaggle build"),
    "--workers": Name("solve, evaluate"),
    # one command's own
    "--dry-run": Name("solve"),
    "--strict": Name("solve"),
    "--answers": Name("show"),
    "-k": Name("score"),
    "--title": Name("report"),
    "--cuda-dtype": Name("parity"),
    "--batch": Name("reproduce"),
    "--stop-at": Name("train"),
    "--official": Name("train"),
    "--recipe": Name("train"),
    "--owner": Name("kaggle build"),
    "--wheels": Name("kaggle build"),
    "--competition": Name("kaggle build"),
    "--interactive-budget": Name("kaggle build"),
}


def id_list(ids: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c'] (None when not given)."""
    return [i.strip() for i in ids.split(",") if i.strip()] if ids else None


def shortcuts(overrides: list[str] | None, device: str | None, seed: int | None) -> list[str]:
    """--set overrides with --device and --seed appended, which they stand for."""
    return [
        *(overrides or []),
        *([f"device={device}"] if device else []),
        *([f"seed={seed}"] if seed is not None else []),
    ]


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
        raise typer.Exit(2) from None


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
    return "\n\n".join(
        p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split("\n")) for p in paragraphs
    )
