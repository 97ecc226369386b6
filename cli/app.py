"""The `arc-trm` command line: a Typer app whose commands only parse arguments and call the arc_trm library."""

from __future__ import annotations

from typing import Annotated

import typer

import arc_trm
from arc_trm_cli.options import Command, Group

app = typer.Typer(
    name="arc-trm",
    cls=Group,
    help="ARC-AGI solver toolkit built on the Tiny Recursive Model (TRM).",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"arc-trm {arc_trm.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, metavar="", help="Print the version.")
    ] = None,
) -> None:
    """ARC-AGI solver toolkit built on the Tiny Recursive Model (TRM)."""


from arc_trm_cli.score import score  # noqa: E402
from arc_trm_cli.show import show  # noqa: E402
from arc_trm_cli.solve import solve  # noqa: E402
from arc_trm_cli.validate import validate  # noqa: E402

app.command(cls=Command)(solve)
app.command(cls=Command)(show)
app.command(cls=Command)(score)
app.command(cls=Command)(validate)

from arc_trm_cli.parity import parity  # noqa: E402

app.command(cls=Command)(parity)

from arc_trm_cli.evaluate import evaluate  # noqa: E402
from arc_trm_cli.report import report  # noqa: E402

app.command(cls=Command)(evaluate)
app.command(cls=Command)(report)


from arc_trm_cli.kaggle import app as kaggle_app  # noqa: E402

app.add_typer(kaggle_app, name="kaggle", cls=Group)

from arc_trm_cli.train import train  # noqa: E402

app.command(cls=Command)(train)

from arc_trm_cli.reproduce import reproduce  # noqa: E402

app.command(cls=Command)(reproduce)


def main() -> None:
    app()
