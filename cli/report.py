"""`arc-trm report`: the HTML report of an evaluation run folder, or of a solve run (a submission and its tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from arc_trm_cli.options import input_errors


def report(
    run: Annotated[
        Path,
        typer.Argument(
            metavar="RUN", help="A folder written by `arc-trm evaluate`, or a submission.json written by `solve`."
        ),
    ],
    task_source: Annotated[
        str | None,
        typer.Argument(
            metavar="TASKS", help="For a solve run: the tasks it answered (folder, challenges file or split)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Page title (default: the run's name).")] = None,
) -> None:
    """Write RUN's report.html: one self-contained page with every task's attempts, votes and statuses, next to
    the truth where it is known (an evaluation run, or TASKS with their answers)."""
    from arc_trm.core import tasks
    from arc_trm.eval.evaluate import write_report, write_solve_report  # torch: imported by the commands that need it

    console = Console()
    with input_errors(console):
        if run.is_dir():
            path = write_report(run, title)
        elif task_source is None:
            raise ValueError(f"{run}: a solve run's report needs TASKS, the tasks the submission answers")
        else:
            path = write_solve_report(run, tasks.load(task_source), title)
    console.print(f"report written to {path}")
