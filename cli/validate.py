"""`arc-trm validate`: is a submission complete and well-formed for a set of tasks?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from arc_trm.core import submission
from arc_trm.core import tasks
from arc_trm_cli.options import input_errors


def validate(
    submission_file: Annotated[Path, typer.Argument(metavar="SUB", help="The submission.json to check.")],
    task_source: Annotated[Optional[str], typer.Argument(
        metavar="TASKS", help="The tasks it answers: a folder, a task file, a challenges file or a split name.")] = None,
    old_tasks: Annotated[Optional[str], typer.Option("--tasks", hidden=True, help="Old name of TASKS.")] = None,
) -> None:
    """Check SUB against TASKS: every task id, one entry per test input, both attempts, valid grids."""
    console = Console()
    with input_errors(console):
        if (task_source or old_tasks) is None:
            raise ValueError("give TASKS: the folder, challenges file or split that SUB answers")
        sub = submission.read(submission_file)
        taskset = tasks.load(task_source or old_tasks)
    problems = submission.validate(sub, taskset)
    for problem in taskset.problems:
        console.print(f"[yellow]task input problem:[/] {problem}")
    for problem in problems:
        console.print(f"[red]invalid:[/] {problem}")
    if problems:
        console.print(f"{submission_file}: {len(problems)} problem(s)")
        raise typer.Exit(1)
    console.print(f"[green]{submission_file}: valid[/] for {len(taskset)} tasks")
