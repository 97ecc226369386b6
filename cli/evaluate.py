"""`arc-trm evaluate`: solve tasks with known answers, score them and write report.html, in one run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from arc_trm import checkpoint, tasks
from arc_trm.budget import parse_duration
from arc_trm.config import save_config
from arc_trm.evaluate import evaluate as evaluate_run
from arc_trm.records import records_dir
from arc_trm_cli import STARTED
from arc_trm_cli.options import (
    CheckpointFile, Fresh, Overrides, Quiet, SolveConfigFile, TimeBudget, Workers, input_errors,
)
from arc_trm_cli.solve import Display, results_table, solve_config


def evaluate(
    split: Annotated[str, typer.Option(
        help=f"A split ({', '.join(tasks.SPLITS)}) or task files / challenges file holding the test outputs.")],
    task_ids: Annotated[Optional[str], typer.Option("--tasks", help="Only these task ids (comma-separated).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N tasks (after --tasks).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: submissions/eval-SPLIT).")] = None,
    config: SolveConfigFile = None,
    overrides: Overrides = None,
    time_budget: TimeBudget = None,
    checkpoint_file: CheckpointFile = None,
    workers: Workers = 1,
    fresh: Fresh = False,
    quiet: Quiet = False,
) -> None:
    """Solve the tasks of SPLIT, score pass@2 (macro, micro, 95% intervals) and write an HTML report."""
    console = Console()
    with input_errors(console):
        budget = parse_duration(time_budget) if time_budget else None
        cfg = solve_config(config, overrides, checkpoint_file)
        if cfg.checkpoint:
            checkpoint.load_for_solve(cfg.checkpoint)  # every bad checkpoint is one error before any task starts
        taskset = select(tasks.load(split), task_ids, limit)
    run_dir = out or Path("submissions") / f"eval-{Path(split).stem}"
    save_config(cfg, records_dir(run_dir / "submission.json") / "config.yaml")
    with Display(console, len(taskset), budget, quiet) as display:
        with input_errors(console):
            result = evaluate_run(taskset, run_dir, cfg, budget, fresh=fresh, on_event=display.event,
                                  workers=workers, title=f"{split}, {len(taskset)} tasks", started=STARTED)
    console.print(results_table(result.solve))
    console.print(result.scores.summary())
    console.print(f"run folder {run_dir}: submission.json, scores.json, report {result.report}")


def select(taskset: tasks.TaskSet, task_ids: str | None, limit: int | None) -> tasks.TaskSet:
    """The chosen tasks: the listed ids (in the order given; KeyError for an unknown one), then the first N."""
    chosen = [taskset[i.strip()] for i in task_ids.split(",") if i.strip()] if task_ids else list(taskset)
    if not chosen:
        raise ValueError("no tasks to evaluate")
    return tasks.TaskSet(chosen[:limit] if limit else chosen, taskset.problems)
