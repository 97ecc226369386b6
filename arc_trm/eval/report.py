"""An evaluation run as one self-contained HTML page: grids drawn as inline SVG, no script, no network.

    html = report.render(taskset, records, scores, title="arc1-eval, 45 s per task")

At the top, a summary (pass@2 macro and micro with their 95% intervals, tasks solved, statuses, time) and an
index of the tasks; then per task its demonstrations, and per test input the input, both attempts marked
right or wrong, the truth and the voted candidates with their vote counts. Tasks, tests and attempts carry
`data-` attributes (task id, solved counts, right/wrong, votes) so that the page can be checked by a parser.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arc_trm.core.tasks import Task, TaskSet, grid_or_none
from arc_trm.eval import scoring
from arc_trm.eval.render import PALETTE
from arc_trm.eval.scoring import Scores

CELL = 14  # pixels per cell of a small grid; big grids get smaller cells (at most MAX_SIDE pixels a side)
MAX_SIDE = 240
RIGHT, WRONG = "\u2713", "\u2717"  # check mark, cross

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
header{background:#1d2430;color:#fff;padding:16px 24px}h1{margin:0 0 4px;font-size:22px}
main{padding:16px 24px}.muted{color:#6b7380}header .muted{color:#b7bfcc}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002;min-width:150px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;background:#fff}td,th{padding:3px 8px;border-bottom:1px solid #e3e6ea;text-align:left}
th{font-weight:600;background:#eef0f3}a{color:#0b5cad;text-decoration:none}
.mark{font-weight:700}.right .mark,.mark.right{color:#1a8a35}.wrong .mark,.mark.wrong{color:#c62828}
.partial .mark{color:#b26a00}
section.task{background:#fff;border-radius:8px;margin:16px 0;padding:10px 16px;box-shadow:0 1px 2px #0002;
border-left:8px solid #c62828}section.task.right{border-left-color:#1a8a35}
section.task.partial{border-left-color:#e0a000}
section.task h2{font-size:17px;margin:4px 0 8px}.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:0;display:inline-flex;flex-direction:column;align-items:center;gap:3px}
figcaption{font-size:12px;color:#4a5260}.pair{display:inline-flex;align-items:center;gap:6px;
background:#f6f7f9;border-radius:6px;padding:6px}.arrow{color:#8a93a0;font-size:18px}
.test{border-top:1px dashed #d5d9df;margin-top:10px;padding-top:8px}
figure.attempt{padding:4px;border-radius:6px;border:3px solid #c62828}figure.attempt.right{border-color:#1a8a35}
figure.truth{padding:4px;border-radius:6px;border:3px solid #8a93a0}
table.candidates{font-size:12px}table.candidates td{border:none;padding:1px 6px}
svg{display:block}.c0{fill:#000}
""" + "".join(f".c{i}{{fill:{colour}}}" for i, colour in enumerate(PALETTE) if i)


# ---------------------------------------------------------------------------------------------- grids


def grid_svg(grid: np.ndarray | None, label: str = "grid") -> str:
    """A grid as an inline SVG: a rectangle per run of equal cells in a row, thin grid lines on top."""
    if grid is None:
        return '<div class="muted">(none)</div>'
    grid = np.asarray(grid)
    rows, cols = grid.shape
    cell = max(4, min(CELL, MAX_SIDE // max(rows, cols)))
    parts = []
    for r in range(rows):
        c = 0
        while c < cols:
            end = c
            while end + 1 < cols and grid[r, end + 1] == grid[r, c]:
                end += 1
            parts.append(f'<rect class="c{int(grid[r, c])}" x="{c}" y="{r}" width="{end - c + 1}" height="1"/>')
            c = end + 1
    lines = "".join(f"M0 {r}H{cols}" for r in range(1, rows)) + "".join(f"M{c} 0V{rows}" for c in range(1, cols))
    return (
        f'<svg viewBox="0 0 {cols} {rows}" width="{cols * cell}" height="{rows * cell}" role="img" '
        f'aria-label="{html.escape(label)} {rows}x{cols}">{"".join(parts)}'
        f'<path d="{lines}" stroke="#555" stroke-width="0.05" fill="none"/></svg>'
    )


def _figure(grid: np.ndarray | None, caption: str, css: str = "", attrs: str = "") -> str:
    size = "" if grid is None else f" {grid.shape[0]}x{grid.shape[1]}"
    return f'<figure class="{css}"{attrs}>{grid_svg(grid, caption)}<figcaption>{caption}{size}</figcaption></figure>'


# ---------------------------------------------------------------------------------------------- per task


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is not None and b is not None and bool(np.array_equal(a, b))


def _votes(attempt: np.ndarray | None, candidates: Sequence[Mapping[str, Any]]) -> int:
    """Votes of the candidate that became this attempt (0: a fallback, not voted for)."""
    for c in candidates:
        if _same(attempt, grid_or_none(c["grid"])):
            return int(c["votes"])
    return 0


def solved_marks(task: Task, record: Mapping[str, Any] | None, k: int = 2) -> list[bool | None]:
    """Per test input: solved by one of the first k attempts, as `scoring.solved` counts it (None when the
    truth is unknown)."""
    truths = task.test_outputs or [None] * len(task.test_inputs)
    attempts = (record or {}).get("attempts") or []
    return [
        None
        if truth is None
        else i < len(attempts) and scoring.solved(dict(zip(("attempt_1", "attempt_2"), attempts[i])), truth, k)
        for i, truth in enumerate(truths)
    ]


def _state(marks: Sequence[bool | None]) -> str:
    known = [m for m in marks if m is not None]
    if not known:
        return "unknown"
    return "right" if all(known) else ("partial" if any(known) else "wrong")


def task_section(task: Task, record: Mapping[str, Any] | None) -> str:
    """A task's section: header with its mark, the demonstrations, and each test input with its answers."""
    record = record or {}
    marks = solved_marks(task, record)
    state = _state(marks)
    solved = sum(bool(m) for m in marks)
    mark = {"right": RIGHT, "partial": "\u25d0", "wrong": WRONG, "unknown": "?"}[state]
    facts = [record.get("status", "no record")]
    if "steps" in record:
        facts.append(f"{record['steps']} training steps")
    if "canvas" in record:
        facts.append(f"canvas {record['canvas']}x{record['canvas']}")
    if "voted_versions" in record:
        facts.append(f"{record['voted_versions']} versions voted")
    if record.get("timings", {}).get("total"):
        facts.append(f"{record['timings']['total']:.1f} s")
    if record.get("reason"):
        facts.append(html.escape(str(record["reason"])))
    tid = html.escape(task.id)
    demos = "".join(
        f'<div class="pair">{_figure(a, f"demo {i} in")}<span class="arrow">&rarr;</span>'
        f"{_figure(b, f'demo {i} out')}</div>"
        for i, (a, b) in enumerate(task.train)
    )
    tests = "".join(_test_block(task, record, i, marks[i]) for i in range(len(task.test_inputs)))
    return (
        f'<section class="task {state}" id="task-{tid}" data-task="{tid}" data-state="{state}" '
        f'data-solved="{solved}" data-tests="{len(marks)}">'
        f'<h2><span class="mark">{mark}</span> {tid} <span class="muted">&middot; {solved}/{len(marks)} '
        f"test outputs solved &middot; {' &middot; '.join(facts)}</span></h2>"
        f'<div class="row demos">{demos}</div>{tests}</section>'
    )


def _test_block(task: Task, record: Mapping[str, Any], i: int, mark: bool | None) -> str:
    attempts = record.get("attempts") or []
    candidates = record.get("candidates") or []
    candidates = candidates[i] if i < len(candidates) else []
    truth = task.test_outputs[i] if task.test_outputs is not None else None
    figures = [_figure(task.test_inputs[i], f"test {i} input")]
    for j in range(2):
        grid = grid_or_none(attempts[i][j]) if i < len(attempts) else None
        votes = _votes(grid, candidates)
        right = truth is not None and _same(grid, truth)
        verdict = "" if truth is None else (RIGHT if right else WRONG)
        css = "attempt " + ("" if truth is None else ("right" if right else "wrong"))
        caption = f'<span class="mark">{verdict}</span> attempt {j + 1} &middot; {votes} vote{"s" * (votes != 1)}'
        figures.append(
            _figure(grid, caption, css, f' data-attempt="{j + 1}" data-votes="{votes}" data-right="{int(right)}"')
        )
    figures.append(
        _figure(truth, "truth", "truth")
        if truth is not None
        else '<figure class="truth"><div class="muted">truth unknown</div></figure>'
    )
    state = "unknown" if mark is None else ("right" if mark else "wrong")
    return (
        f'<div class="test {state}" data-test="{i}" data-state="{state}"><div class="row">{"".join(figures)}'
        f"{_candidates_table(candidates, truth)}</div></div>"
    )


def _candidates_table(candidates: Sequence[Mapping[str, Any]], truth: np.ndarray | None) -> str:
    if not candidates:
        return '<div class="muted">no voted candidates (fallback)</div>'
    rows = []
    for rank, c in enumerate(candidates, 1):
        grid = grid_or_none(c["grid"])
        size = "?" if grid is None else f"{grid.shape[0]}x{grid.shape[1]}"
        hit = "" if truth is None else (RIGHT if _same(grid, truth) else "")
        rows.append(
            f'<tr class="candidate" data-votes="{int(c["votes"])}"><td>#{rank}</td>'
            f"<td>{int(c['votes'])} votes</td><td>conf {float(c['mean_confidence']):.2f}</td>"
            f'<td>{size}</td><td class="mark right">{hit}</td></tr>'
        )
    return f'<table class="candidates"><tr><th colspan="5">voted candidates</th></tr>{"".join(rows)}</table>'


# ---------------------------------------------------------------------------------------------- the page


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def summary_section(taskset: TaskSet, records: Mapping[str, Mapping[str, Any]], scores: Scores | None) -> str:
    """Cards with the scores and counts, then an index table with one row per task."""
    statuses: dict[str, int] = {}
    for task in taskset:
        status = records.get(task.id, {}).get("status", "no record")
        statuses[status] = statuses.get(status, 0) + 1
    seconds = sum(r.get("timings", {}).get("total", 0.0) for r in records.values())
    cards = []
    if scores is not None:
        cards += [
            ("pass@2 macro", _pct(scores.macro), f"95% CI {_pct(scores.macro_ci[0])} - {_pct(scores.macro_ci[1])}"),
            (
                "pass@2 micro",
                _pct(scores.micro),
                f"{scores.n_correct}/{scores.n_test} test outputs, "
                f"95% CI {_pct(scores.micro_ci[0])} - {_pct(scores.micro_ci[1])}",
            ),
            ("tasks solved", f"{scores.n_tasks_solved}/{scores.n_tasks}", "every test output right"),
        ]
    cards += [
        ("statuses", " ".join(f"{n} {s}" for s, n in sorted(statuses.items())), f"{len(taskset)} tasks"),
        ("solve time", f"{seconds:.0f} s", "sum over tasks"),
    ]
    card_html = "".join(
        f'<div class="card" data-card="{html.escape(name)}"><span class="muted">{name}</span>'
        f'<b>{value}</b><span class="muted">{note}</span></div>'
        for name, value, note in cards
    )
    rows = []
    for task in taskset:
        record = records.get(task.id, {})
        marks = solved_marks(task, record)
        state = _state(marks)
        top = " | ".join(",".join(str(c["votes"]) for c in cands[:3]) for cands in record.get("candidates", []))
        mark = {"right": RIGHT, "partial": "\u25d0", "wrong": WRONG, "unknown": "?"}[state]
        tid = html.escape(task.id)
        rows.append(
            f'<tr class="{state}" data-task="{tid}"><td class="mark">{mark}</td>'
            f'<td><a href="#task-{tid}">{tid}</a></td><td>{sum(bool(m) for m in marks)}/{len(marks)}</td>'
            f"<td>{record.get('status', 'no record')}</td><td>{top}</td><td>{record.get('steps', '')}</td>"
            f"<td>{record.get('timings', {}).get('total', 0):.1f}</td></tr>"
        )
    index = (
        '<table class="index"><tr><th></th><th>task</th><th>solved</th><th>status</th>'
        f"<th>top votes</th><th>steps</th><th>seconds</th></tr>{''.join(rows)}</table>"
    )
    return f'<section id="summary"><div class="cards">{card_html}</div>{index}</section>'


def render(
    taskset: TaskSet,
    records: Mapping[str, Mapping[str, Any]],
    scores: Scores | None,
    title: str = "evaluation",
    notes: Sequence[str] = (),
) -> str:
    """The whole page: summary and index on top, then a section per task (in the task set's order)."""
    sections = "".join(task_section(task, records.get(task.id)) for task in taskset)
    subtitle = " &middot; ".join(html.escape(n) for n in notes)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>arc-trm report: {html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>arc-trm report: {html.escape(title)}</h1><div class="muted">{subtitle}</div></header>'
        f"<main>{summary_section(taskset, records, scores)}{sections}</main></body></html>\n"
    )
