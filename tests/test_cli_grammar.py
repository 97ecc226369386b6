"""One grammar for the command line: every argument and option of every command is a name of the table in
cli/options.py (GRAMMAR), taken by exactly the commands it lists, and alike wherever it appears."""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperArgument

from arc_trm_cli.app import app
from arc_trm_cli.options import GRAMMAR, Name, Quiet


def commands(command: Any, path: str = "") -> list[tuple[str, Any]]:
    """(name, command) for the root ("arc-trm") and every command and subcommand under it ("kaggle build")."""
    found = [(path or "arc-trm", command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += commands(sub, f"{path} {name}".strip())
    return found


def name_of(param: Any) -> str:
    """An argument's metavar (TASKS), an option's long flag (--out), or its only flag (-k)."""
    if isinstance(param, TyperArgument):
        return param.metavar or param.name.upper()
    return next((flag for flag in param.opts if flag.startswith("--")), param.opts[0])


SEEN = ("secondary_opts", "nargs", "multiple", "is_flag", "hidden", "metavar", "help", "min", "max")


def described(param: Any) -> dict[str, Any]:
    """What a user sees of a parameter: flags, type, default, help (not the Python name behind it)."""
    info = {key: getattr(param, key, None) for key in SEEN}
    info["flags"] = None if isinstance(param, TyperArgument) else param.opts  # an argument's opts: its Python name
    info["type"] = str(getattr(getattr(param, "type_descriptor", None), "annotation", None) or param.type)
    info["default"] = param.default, param.required  # one field, as a Name's `own` says
    return info


def problems(root: Any, grammar: dict[str, Name]) -> list[str]:
    """Where the commands under `root` and the table disagree, one line each (none: they agree)."""
    found: list[str] = []
    seen: dict[str, dict[str, dict]] = {}  # name -> command -> what the user sees
    for command_name, command in commands(root):
        for param in command.params:
            name = name_of(param)
            if getattr(param, "hidden", False):
                found.append(f"{command_name}: {name} is hidden (a legacy alias?)")
            if name not in grammar:
                found.append(f"{command_name}: {name} is not in the grammar table")
            seen.setdefault(name, {})[command_name] = described(param)
    for name, entry in grammar.items():
        taking = seen.get(name, {})
        if set(taking) != set(entry.commands.split(", ")):
            found.append(f"{name}: taken by {sorted(taking)}, the table says {entry.commands!r}")
        shared = [(c, {k: v for k, v in info.items() if k not in entry.own.split()}) for c, info in taking.items()]
        for command_name, info in shared[1:]:
            if info != shared[0][1]:
                differ = sorted(k for k in info if info[k] != shared[0][1].get(k))
                found.append(f"{name}: {command_name} and {shared[0][0]} differ in {', '.join(differ)}")
    return found


ROOT = typer.main.get_command(app)


def test_every_command_follows_the_grammar():
    assert problems(ROOT, GRAMMAR) == []


def test_the_legacy_aliases_are_gone_and_each_output_is_out():
    assert not {"--split", "--tasks", "--json", "--dump"} & set(GRAMMAR)
    writers = GRAMMAR["--out"].commands.split(", ")
    assert {"solve", "evaluate", "score", "parity", "reproduce", "train", "kaggle build"} == set(writers)


def test_a_wrong_table_is_caught():
    """The check can fail: a command left out of an entry, an own field taken back, a name missing."""
    wrong = dict(GRAMMAR, **{"--quiet": Name("solve, evaluate, score, reproduce")})
    assert problems(ROOT, wrong) == [
        (
            "--quiet: taken by ['evaluate', 'parity', 'reproduce', 'score', 'solve'], "
            "the table says 'solve, evaluate, score, reproduce'"
        )
    ]
    wrong = dict(GRAMMAR, **{"--out": Name(GRAMMAR["--out"].commands)})  # the same help everywhere, it would say
    assert any(line.startswith("--out: ") and "help" in line for line in problems(ROOT, wrong))
    wrong = {name: entry for name, entry in GRAMMAR.items() if name != "--strict"}
    assert problems(ROOT, wrong) == ["solve: --strict is not in the grammar table"]


def test_a_command_that_breaks_the_grammar_is_caught():
    """A hidden legacy alias and an option whose help differs from the table's other commands."""
    broken = typer.Typer(add_completion=False)

    @broken.command()
    def score(quiet: Quiet = False, split: Annotated[str | None, typer.Option(hidden=True)] = None) -> None:
        """A score with an old --split."""

    @broken.command()
    def solve(quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Say less.")] = False) -> None:
        """A solve whose --quiet means something else."""

    grammar = {"--quiet": Name("score, solve"), "--version": Name("arc-trm")}
    assert problems(typer.main.get_command(broken), grammar) == [
        "score: --split is hidden (a legacy alias?)",
        "score: --split is not in the grammar table",
        "--quiet: solve and score differ in help, metavar",
        "--version: taken by [], the table says 'arc-trm'",
    ]
