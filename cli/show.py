"""`arc-trm show`: tasks' grids in colour in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from arc_trm.core import tasks as arc_tasks
from arc_trm.eval.render import task_view
from arc_trm_cli.options import Ids, Limit, id_list, input_errors


def show(
    task_source: Annotated[
        str,
        typer.Argument(
            metavar="TASKS",
            help="A task file, a folder, a challenges file, a split, or a task id (looked up in every split).",
        ),
    ],
    ids: Ids = None,
    limit: Limit = None,
    answers: Annotated[bool, typer.Option(metavar="", help="Show the test outputs when known.")] = True,
) -> None:
    """Render tasks' demonstrations and test inputs (and answers) in the ARC palette: one task by its id, or
    TASKS (all of them, or those --ids and --limit pick).

        arc-trm show 007bbfb7
        arc-trm show concept --ids AboveBelow1 --no-answers
    """
    console = Console()
    with input_errors(console):
        if task_source in arc_tasks.SPLITS or Path(task_source).exists():
            taskset = arc_tasks.load(task_source)
        else:
            taskset = arc_tasks.TaskSet([arc_tasks.find_task(task_source)])
        taskset = taskset.select(id_list(ids), limit)
    for problem in taskset.problems:
        console.print(f"[yellow]problem:[/] {problem}")
    for one in taskset:
        console.print(task_view(one, answers=answers))
    if not len(taskset):
        raise typer.Exit(1)
