"""`arc-trm score`: pass@k of a submission against known test outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from arc_trm.eval import scoring
from arc_trm.core import submission
from arc_trm.core import tasks
from arc_trm.core.io import write_json
from arc_trm_cli.options import Quiet, input_errors


def score(
    submission_file: Annotated[Path, typer.Argument(metavar="SUB", help="The submission.json to score.")],
    solutions: Annotated[
        Optional[str],
        typer.Option(help=f"The answers: a Kaggle solutions file, task files or a challenges file holding them, or a "
                          f"split ({', '.join(tasks.SPLITS)})."),
    ] = None,
    split: Annotated[Optional[str], typer.Option(hidden=True, help="Old form of --solutions SPLIT.")] = None,
    k: Annotated[int, typer.Option("-k", help="Attempts that count (pass@k).")] = 2,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the scores as JSON here.")] = None,
    quiet: Quiet = False,
) -> None:
    """Score SUB: macro (per task, ARC Prize's) and micro (per test output) pass@k with 95% intervals."""
    console = Console()
    if (solutions is None) == (split is None):
        console.print("[red]error:[/] give the answers once: --solutions FILE or --solutions SPLIT")
        raise typer.Exit(2)
    with input_errors(console):
        sub = submission.read(submission_file)
        truth = tasks.load_solutions(solutions or split)
    result = scoring.score(sub, truth, k=k)
    if not quiet:
        console.print(_table(result))
    console.print(result.summary())
    if json_out is not None:
        write_json(result.to_json(), json_out)
        console.print(f"scores written to {json_out}")


def _table(result: scoring.Scores) -> Table:
    table = Table(title=f"pass@{result.k} per task")
    for column in ("task", "test outputs", "solved", "score"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for row in result.rows:
        style = "green" if row.fraction == 1 else ("yellow" if row.fraction > 0 else "")
        table.add_row(row.task_id, str(row.n_test), str(row.n_correct), f"{row.fraction:.2f}", style=style)
    return table
