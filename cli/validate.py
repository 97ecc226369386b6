"""`arc-trm validate`: is a submission complete and well-formed for a set of tasks?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from arc_trm.core import submission, tasks
from arc_trm_cli.options import SubmissionFile, input_errors


def validate(
    submission_file: SubmissionFile,
    task_source: Annotated[
        str,
        typer.Argument(
            metavar="TASKS", help="The tasks it answers: a folder, a task file, a challenges file or a split name."
        ),
    ],
) -> None:
    """Check SUB against TASKS: every task id, one entry per test input, both attempts, valid grids."""
    console = Console()
    with input_errors(console):
        sub = submission.read(submission_file)
        taskset = tasks.load(task_source)
    problems = submission.validate(sub, taskset)
    for problem in taskset.problems:
        console.print(f"[yellow]task input problem:[/] {problem}")
    for problem in problems:
        console.print(f"[red]invalid:[/] {problem}")
    if problems:
        console.print(f"{submission_file}: {len(problems)} problem(s)")
        raise typer.Exit(1)
    console.print(f"[green]{submission_file}: valid[/] for {len(taskset)} tasks")
