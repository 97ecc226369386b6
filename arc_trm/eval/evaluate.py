"""`evaluate`: solve tasks whose answers are known, score them and write a report, all in one run folder.

    run = evaluate(tasks.load("arc1-eval"), "runs/arc1-eval", config, budget_seconds=3600)
    run.scores.summary()                     # pass@2 macro and micro with 95% intervals
    write_report("runs/arc1-eval")           # rebuild report.html from what the folder holds

The run folder:

    tasks.json                 the tasks as evaluated, truths included (a Kaggle challenges file with outputs)
    run.json                   the report's title
    submission.json            the Kaggle submission (complete and valid throughout, as `solve` writes it)
    submission.json.records/   one record per task: attempts, voted candidates with vote counts, timings
    submission.problems.json   input problems met
    scores.json                pass@2 macro and micro, 95% Wilson intervals, per-task rows
    report.html                the self-contained report (arc_trm.eval.report)

A `solve` run gets the same page from `write_solve_report` (truths where its tasks carry them).

Running the same call again resumes the solve (as `solve` does) and rewrites scores and report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from arc_trm.core import submission
from arc_trm.core.events import Listener
from arc_trm.core.io import write_json, write_text
from arc_trm.core.tasks import TaskSet, load
from arc_trm.eval import report, scoring
from arc_trm.model import TRM
from arc_trm.solve.config import SolveConfig
from arc_trm.solve.records import RecordStore, records_dir
from arc_trm.solve.run import SolveReport, solve

TASKS, RUN, SUBMISSION, SCORES, REPORT = "tasks.json", "run.json", "submission.json", "scores.json", "report.html"


@dataclass
class EvaluateResult:
    """What an evaluation produced: the solve report, the scores and the run folder's files."""

    run_dir: Path
    solve: SolveReport
    scores: scoring.Scores
    report: Path


def evaluate(
    taskset: TaskSet,
    run_dir: str | Path,
    config: SolveConfig,
    budget_seconds: float | None = None,
    fresh: bool = False,
    on_event: Listener | None = None,
    workers: int = 1,
    title: str | None = None,
    started: float | None = None,
    base: TRM | None = None,
) -> EvaluateResult:
    """Solve `taskset` (every task needs its test outputs), score pass@2 and write the report; the budget
    counts from `started` and each task starts from `base`, as in `solve`."""
    run_dir = Path(run_dir)
    missing = [t.id for t in taskset if t.test_outputs is None]
    if missing:
        raise ValueError(
            f"no known test outputs for {len(missing)} task(s) ({', '.join(missing[:5])}): "
            "evaluate needs tasks with answers; use `arc-trm solve` for the others"
        )
    write_json({t.id: t.to_json() for t in taskset}, run_dir / TASKS)
    write_json({"title": title or run_dir.name}, run_dir / RUN)
    solved = solve(
        taskset,
        run_dir / SUBMISSION,
        config,
        budget_seconds,
        fresh=fresh,
        on_event=on_event,
        workers=workers,
        started=started,
        base=base,
    )
    scores = score_run(run_dir, taskset)
    path = write_report(run_dir, title)
    return EvaluateResult(run_dir, solved, scores, path)


def score_run(run_dir: str | Path, taskset: TaskSet | None = None) -> scoring.Scores:
    """Score the run's submission against its tasks' truths; writes scores.json."""
    run_dir = Path(run_dir)
    taskset = taskset or load_tasks(run_dir)
    scores = scoring.score(submission.read(run_dir / SUBMISSION), taskset.solutions())
    write_json(scores.to_json(), run_dir / SCORES, indent=1)
    return scores


def load_tasks(run_dir: str | Path) -> TaskSet:
    """The tasks a run folder was evaluated on (clear error when the folder is not a run folder)."""
    path = Path(run_dir) / TASKS
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not an evaluation run folder (no {TASKS})")
    return load(path)


def write_report(run_dir: str | Path, title: str | None = None) -> Path:
    """(Re)build report.html from the run folder's tasks, records and submission; returns its path.
    The title defaults to the one the run was evaluated with."""
    run_dir = Path(run_dir)
    if title is None and (run_dir / RUN).is_file():
        title = json.loads((run_dir / RUN).read_text()).get("title")
    taskset = load_tasks(run_dir)
    if not (run_dir / SUBMISSION).is_file():
        raise FileNotFoundError(f"{run_dir}: no {SUBMISSION} yet (the solve has not started)")
    html = _page(taskset, run_dir / SUBMISSION, score_run(run_dir, taskset), title or run_dir.name, run_dir)
    return write_text(html, run_dir / REPORT)


def write_solve_report(submission_path: str | Path, taskset: TaskSet, title: str | None = None) -> Path:
    """The report of a `solve` run: `<submission>.report.html` beside the submission, from its records; scored
    where the tasks carry their answers, else attempts, votes and statuses only."""
    submission_path = Path(submission_path)
    if not submission_path.is_file():
        raise FileNotFoundError(f"{submission_path}: no such submission")
    solutions = taskset.solutions()
    scores = scoring.score(submission.read(submission_path), solutions) if len(solutions) == len(taskset) else None
    html = _page(taskset, submission_path, scores, title or submission_path.stem, submission_path)
    return write_text(html, submission_path.with_name(submission_path.stem + ".report.html"))


def _page(taskset: TaskSet, submission_path: Path, scores: scoring.Scores | None, title: str, where: Path) -> str:
    """The report page of a submission's saved records; `where` (the run) is named in its notes."""
    store = RecordStore(records_dir(submission_path))
    records = store.load_all()
    notes = [f"{len(taskset)} tasks", f"{len(records)} records", str(where)]
    notes += [f"unreadable record: {p}" for p in store.problems]
    return report.render(taskset, records, scores, title, notes)
