"""`arc-trm score`: pass@k of a submission against known test outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from arc_trm.core import submission, tasks
from arc_trm.core.io import write_json
from arc_trm.eval import scoring
from arc_trm_cli.options import Quiet, Solutions, SubmissionFile, input_errors


def score(
    submission_file: SubmissionFile,
    solutions: Solutions = None,
    k: Annotated[int, typer.Option("-k", help="Attempts that count (pass@k).")] = 2,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the scores as JSON here.")] = None,
    quiet: Quiet = False,
) -> None:
    """Score SUB against --solutions (required): macro (per task, ARC Prize's) and micro (per test output) pass@k
    with 95% intervals."""
    console = Console()
    with input_errors(console):
        if solutions is None:
            raise ValueError("give the answers: --solutions FILE or --solutions SPLIT")
        sub = submission.read(submission_file)
        truth = tasks.load_solutions(solutions)
    result = scoring.score(sub, truth, k=k)
    if not quiet:
        console.print(_table(result))
    console.print(result.summary())
    if out is not None:
        write_json(result.to_json(), out)
        console.print(f"scores written to {out}")


def _table(result: scoring.Scores) -> Table:
    table = Table(title=f"pass@{result.k} per task")
    for column in ("task", "test outputs", "solved", "score"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for row in result.rows:
        style = "green" if row.fraction == 1 else ("yellow" if row.fraction > 0 else "")
        table.add_row(row.task_id, str(row.n_test), str(row.n_correct), f"{row.fraction:.2f}", style=style)
    return table
