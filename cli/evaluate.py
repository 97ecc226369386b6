"""`arc-trm evaluate`: solve tasks with known answers, score them and write report.html, in one run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from arc_trm.core import tasks
from arc_trm.core.config import save_config
from arc_trm.core.durations import parse_duration
from arc_trm.solve.records import records_dir
from arc_trm_cli import STARTED
from arc_trm_cli.options import (
    CheckpointFile,
    Device,
    Fresh,
    Ids,
    Limit,
    Overrides,
    Quiet,
    Seed,
    Solutions,
    SolveConfigFile,
    TimeBudget,
    Workers,
    id_list,
    input_errors,
)
from arc_trm_cli.solve import Display, results_table, solve_config


def evaluate(
    task_source: Annotated[
        str,
        typer.Argument(
            metavar="TASKS", help=f"A split ({', '.join(tasks.SPLITS)}), task files or a challenges file with answers."
        ),
    ],
    ids: Ids = None,
    limit: Limit = None,
    solutions: Solutions = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default: submissions/eval-TASKS).")
    ] = None,
    config: SolveConfigFile = None,
    overrides: Overrides = None,
    device: Device = None,
    seed: Seed = None,
    time_budget: TimeBudget = None,
    checkpoint_file: CheckpointFile = None,
    workers: Workers = 1,
    fresh: Fresh = False,
    quiet: Quiet = False,
) -> None:
    """Solve TASKS whose answers are known (in TASKS, or --solutions where it does not hold them), score pass@2
    (macro, micro, 95% intervals) and write report.html."""
    from arc_trm.eval.evaluate import evaluate as evaluate_run
    from arc_trm.model.checkpoint import load_for_solve  # torch: imported by the commands that need it

    console = Console()
    with input_errors(console):
        budget = parse_duration(time_budget) if time_budget else None
        cfg = solve_config(config, overrides, checkpoint_file, device, seed)
        base = load_for_solve(cfg.checkpoint) if cfg.checkpoint else None  # a bad one: an error before any task
        taskset = tasks.load(task_source, solutions).select(id_list(ids), limit)
        if not len(taskset):
            raise ValueError("no tasks to evaluate")
    run_dir = out or Path("submissions") / f"eval-{Path(task_source).stem}"
    save_config(cfg, records_dir(run_dir / "submission.json") / "config.yaml")
    with Display(console, len(taskset), budget, quiet) as display, input_errors(console):
        result = evaluate_run(
            taskset,
            run_dir,
            cfg,
            budget,
            fresh=fresh,
            on_event=display.event,
            workers=workers,
            title=f"{task_source}, {len(taskset)} tasks",
            started=STARTED,
            base=base,
        )
    if not quiet:
        console.print(results_table(result.solve))
    console.print(result.scores.summary())
    console.print(f"run folder {run_dir}: submission.json, scores.json, report {result.report}")
