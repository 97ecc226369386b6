"""`arc-trm show`: a task's grids in colour in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from arc_trm.core import tasks as arc_tasks
from arc_trm.eval.render import task_view
from arc_trm_cli.options import input_errors


def show(
    task: Annotated[str, typer.Argument(help="A task file, a Kaggle challenges file, or a task id from a split.")],
    split: Annotated[
        Optional[str], typer.Option(help=f"Look the id up in this split only ({', '.join(arc_tasks.SPLITS)}).")
    ] = None,
    answers: Annotated[bool, typer.Option(metavar="", help="Show the test outputs when known.")] = True,
) -> None:
    """Render a task's demonstrations and test inputs (and answers) in the ARC palette."""
    console = Console()
    if Path(task).exists():
        taskset = arc_tasks.load(task)
    else:
        with input_errors(console):
            taskset = arc_tasks.TaskSet([arc_tasks.load_split(split)[task] if split else arc_tasks.find_task(task)])
    for problem in taskset.problems:
        console.print(f"[yellow]problem:[/] {problem}")
    for one in taskset:
        console.print(task_view(one, answers=answers))
    if not len(taskset):
        raise typer.Exit(1)
