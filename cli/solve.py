"""`arc-trm solve`: per-task test-time training and voting into a Kaggle submission."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from arc_trm.core import events, tasks
from arc_trm.core.config import load_config, save_config, to_dict
from arc_trm.core.durations import format_duration, parse_duration
from arc_trm.solve.records import problems_path, records_dir
from arc_trm_cli import STARTED
from arc_trm_cli.options import (
    REPO,
    CheckpointFile,
    Device,
    Fresh,
    Ids,
    Limit,
    Overrides,
    Quiet,
    Seed,
    SolveConfigFile,
    TimeBudget,
    Workers,
    id_list,
    input_errors,
    repo_config,
    shortcuts,
)

if TYPE_CHECKING:
    from arc_trm.solve.config import SolveConfig
    from arc_trm.solve.run import SolveReport

DEFAULT_TASKS = REPO / "examples" / "tasks"


def solve(
    task_source: Annotated[
        str | None, typer.Argument(metavar="TASKS", help="Folder, challenges file or split (default: the examples).")
    ] = None,
    ids: Ids = None,
    limit: Limit = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the submission.")] = Path(
        "submissions/submission.json"
    ),
    config: SolveConfigFile = None,
    overrides: Overrides = None,
    device: Device = None,
    seed: Seed = None,
    time_budget: TimeBudget = None,
    checkpoint_file: CheckpointFile = None,
    workers: Workers = 1,
    fresh: Fresh = False,
    quiet: Quiet = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            metavar="",
            help="Print the config and what each task would get (canvas, versions, seconds, steps, end), "
            "then stop: nothing is trained or written.",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", metavar="", help="Exit 1 when any task failed (the submission is still written)."),
    ] = False,
) -> None:
    """Solve TASKS with test-time training of TRM and augmentation voting; write a complete submission."""
    from arc_trm.model.checkpoint import (
        load_for_solve,  # torch: imported by the commands that need it
    )
    from arc_trm.solve.run import solve as run_solve

    console = Console()
    with input_errors(console):
        budget = parse_duration(time_budget) if time_budget else None
        cfg = solve_config(config, overrides, checkpoint_file, device, seed)
        base = load_for_solve(cfg.checkpoint) if cfg.checkpoint else None
        if task_source is None and not DEFAULT_TASKS.is_dir():
            raise FileNotFoundError(
                f"no TASKS given and the examples are not at {DEFAULT_TASKS} (a non-editable "
                "install): give a folder, a challenges file or a split"
            )
        taskset = tasks.load(task_source or DEFAULT_TASKS).select(id_list(ids), limit)
    for problem in taskset.problems:
        console.print(f"[yellow]problem:[/] {problem}")
    if not len(taskset):
        console.print("[red]error:[/] no task to solve; nothing to write")
        raise typer.Exit(1)
    if dry_run:
        console.print(yaml.safe_dump(to_dict(cfg), sort_keys=False), markup=False)
        console.print(dry_run_table(taskset, cfg, budget, workers, base))
        return
    save_config(cfg, records_dir(out) / "config.yaml")
    with Display(console, len(taskset), budget, quiet) as display:
        report = run_solve(
            taskset, out, cfg, budget, fresh=fresh, on_event=display.event, base=base, workers=workers, started=STARTED
        )
    if not quiet:
        console.print(results_table(report))
    console.print(
        f"{out}: {len(report.results)} tasks ({report.count('predicted')} predicted, "
        f"{report.count('skipped')} skipped, {report.count('failed')} failed; {report.resume_line()}) "
        f"in {format_duration(report.seconds)}; problems: {report.problems} (see {problems_path(out)})"
    )
    if strict and report.count("failed"):
        raise typer.Exit(1)


def solve_config(
    config: Path | None,
    overrides: list[str] | None,
    checkpoint_file: Path | None,
    device: str | None = None,
    seed: int | None = None,
) -> SolveConfig:
    """The config of a run: the YAML (default: the CPU default) with the --set overrides (--device and --seed
    among them), then --checkpoint.

    Without --config, configs/cpu.yaml of the checkout; where it is absent (a wheel install), SolveConfig's
    defaults, which equal it (tests/test_config.py)."""
    from arc_trm.solve.config import SolveConfig

    cfg = load_config(SolveConfig, config or repo_config("cpu.yaml"), shortcuts(overrides, device, seed))
    if checkpoint_file is not None:
        cfg.checkpoint = str(checkpoint_file)
    return cfg


class Display:
    """Live progress (tasks done, current task and phase, budget left) or plain log lines."""

    def __init__(self, console: Console, total: int, budget: float | None, quiet: bool):
        self.console, self.quiet, self.budget = console, quiet, budget
        self.start, self.total, self.finished, self.resumed = time.monotonic(), total, 0, 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            disable=quiet,
        )
        self.bar = self.progress.add_task("tasks", total=total, status="")

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def event(self, event: events.Event) -> None:
        match event:
            case events.Started():
                self.resumed = event.resumed
                self.progress.update(self.bar, advance=event.resumed)
                retried = sum(event.retried.values())
                self.log(
                    f"{event.tasks} tasks, {event.resumed} resumed from saved results, "
                    f"{event.problems} input problem(s)"
                    + (f"; retrying {retried} without an answer ({', '.join(event.retried)})" if retried else "")
                    + (f"; {event.redone} saved under another config are redone" if event.redone else "")
                )
            case events.Planned():
                self.log(
                    ("kept the plan of the run this one resumes" if event.kept else "planned")
                    + f" ({event.path}):\n{event.summary}"
                )
            case events.Warned():
                self.log(f"[yellow]{event.text}[/]")
            case events.TaskStarted():
                self.status(f"{event.task_id}: starting ({format_duration(event.seconds)} allowed)")
            case events.Phase():
                extra = f" canvas {event.canvas}," if event.canvas is not None else ""
                self.status(f"{event.task_id}: {event.phase}{extra} {event.versions} versions")
            case events.Progress():
                self.status(f"{event.task_id}: step {event.step} loss {event.loss:.3f} exact {event.exact:.2f}")
            case events.Stopped():
                self.log(
                    f"hard deadline: workers stopped {event.margin:.0f} s before the budget's end; "
                    "the submission holds every saved record"
                )
            case events.WorkerFailed():
                self.log(f"a worker process failed (exit code {event.exitcode}); its unfinished tasks keep fallbacks")
            case events.Retry():
                smaller = f" with {event.versions} versions" if event.versions else ""
                self.log(f"{event.task_id}: {event.reason}, retrying{smaller}")
            case events.TaskDone(record=record):
                self.finished += 1
                self.progress.update(self.bar, advance=1)
                self.log(
                    f"{event.task_id}: {record['status']}"
                    + (f" ({record['reason']})" if record.get("reason") else "")
                    + f" in {format_duration(record.get('timings', {}).get('total', 0))}"
                )

    def status(self, text: str) -> None:
        elapsed = time.monotonic() - self.start
        if self.budget is not None:
            text += f" | budget left {format_duration(max(0.0, self.budget - elapsed))}"
        left = self.total - self.resumed - self.finished
        if self.finished:
            text += f" | ETA {format_duration(elapsed / self.finished * left)}"
        self.progress.update(self.bar, status=text)

    def log(self, text: str) -> None:
        self.console.log(text) if not self.quiet else self.console.print(text)


def results_table(report: SolveReport) -> Table:
    table = Table(title="solve")
    for column in ("task", "status", "canvas", "steps", "time", "top votes"):
        table.add_column(column, justify="left" if column in ("task", "status") else "right")
    for result in report.results:
        rec = result.record
        votes = " | ".join(",".join(str(c["votes"]) for c in cands[:3]) for cands in rec.get("candidates", []))
        table.add_row(
            result.task_id,
            result.status,
            str(rec.get("canvas", "")),
            str(rec.get("steps", "")),
            format_duration(rec.get("timings", {}).get("total", 0)),
            votes,
        )
    return table


def dry_run_table(taskset: tasks.TaskSet, cfg: SolveConfig, budget: float | None, workers: int, base) -> Table:
    """Per task, what solve would give it (with a budget: the whole-run plan solve would make), from step
    times measured on the device (a few steps on random data; no task is trained), and when the run would end."""
    import dataclasses

    from arc_trm.core import devices
    from arc_trm.solve import schedule

    planned = dataclasses.replace(cfg, model=base.config) if base is not None else cfg
    cost = schedule.measure(planned, devices.resolve(cfg.device))
    rows = schedule.preview(taskset, planned, cost, budget, workers)
    end = time.strftime("%H:%M", time.localtime(time.time() + max((r["ends_at"] for r in rows), default=0)))
    table = Table(
        title=f"dry run: {len(rows)} tasks on {workers} worker(s), step times {cost.name}; "
        f"the run would end about {end}"
    )
    for column in ("task", "canvas", "versions", "seconds", "steps", "ends after"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for row in rows:
        table.add_row(
            row["task_id"],
            str(row["canvas"] or "-"),
            str(row["versions"]),
            f"{row['seconds']:.0f}",
            str(row["steps"]),
            format_duration(row["ends_at"]),
        )
    return table
