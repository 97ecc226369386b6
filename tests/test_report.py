"""The HTML report shows the right tasks, marks, vote counts and summary (checked by parsing the page)."""

from html.parser import HTMLParser

import numpy as np
import pytest

from arc_trm.core import submission, tasks
from arc_trm.eval import report, scoring
from arc_trm.eval.render import PALETTE
from arc_trm.solve.records import make_record


class Page(HTMLParser):
    """Every element's tag, attributes and the text directly inside it, in document order."""

    def __init__(self, text: str):
        super().__init__()
        self.elements, self.stack, self.text = [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, **dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("rect", "path", "meta"):
            self.stack.append(element)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()["tag"] != tag:
            pass

    def handle_data(self, data):
        self.text.append(data)
        for element in self.stack:
            element["text"] += data

    def find(self, **attrs):
        return [e for e in self.elements if all(e.get(k) == v for k, v in attrs.items())]


@pytest.fixture(scope="module")
def taskset():
    split = tasks.load("arc1-eval")
    return tasks.TaskSet([split[i] for i in ("66e6c45b", "6ea4a07e", "60c09cac")])


def wrong(grid):
    return (np.asarray(grid) + 1) % 10


@pytest.fixture(scope="module")
def records(taskset):
    """Task 1: attempt 2 right (attempt 1 wrong); task 2 (two tests): first right, second wrong; task 3: a
    failed task with fallbacks and no candidates."""
    right_task, partial_task, failed_task = taskset
    truth = right_task.test_outputs[0]
    right = make_record(
        right_task.id,
        [(wrong(truth), truth)],
        [
            [
                {"grid": wrong(truth), "votes": 7, "mean_confidence": 0.4},
                {"grid": truth, "votes": 3, "mean_confidence": 0.9},
            ]
        ],
        {"total": 2.0},
        {},
        "predicted",
    )
    t0, t1 = partial_task.test_outputs
    partial = make_record(
        partial_task.id,
        [(t0, wrong(t0)), (wrong(t1), wrong(t1))],
        [[{"grid": t0, "votes": 5, "mean_confidence": 0.8}], [{"grid": wrong(t1), "votes": 4, "mean_confidence": 0.3}]],
        {"total": 3.0},
        {},
        "predicted",
    )
    fallback = submission.fallback_grid(failed_task.test_inputs[0])
    failed = make_record(failed_task.id, [(fallback, fallback)], [[]], {}, {}, "failed")
    failed["reason"] = "RuntimeError: broken"
    return {r["task_id"]: r for r in (right, partial, failed)}


@pytest.fixture(scope="module")
def page(taskset, records):
    sub = submission.build(taskset, {tid: [tuple(p) for p in r["attempts"]] for tid, r in records.items()})
    scores = scoring.score(sub, taskset.solutions())
    return Page(report.render(taskset, records, scores, title="unit test run", notes=["three tasks"]))


def test_tasks_appear_in_order_with_their_marks(page, taskset):
    sections = [e for e in page.elements if e["tag"] == "section" and "data-task" in e]
    assert [s["data-task"] for s in sections] == taskset.ids
    assert [s["data-state"] for s in sections] == ["right", "partial", "wrong"]
    assert [(s["data-solved"], s["data-tests"]) for s in sections] == [("1", "1"), ("1", "2"), ("0", "1")]
    assert "\u2713 66e6c45b" in sections[0]["text"] and "\u2717 60c09cac" in sections[2]["text"]
    assert "RuntimeError: broken" in sections[2]["text"]


def test_attempts_are_marked_right_or_wrong_with_their_votes(page):
    attempts = [(e["data-attempt"], e["data-right"], e["data-votes"]) for e in page.elements if "data-attempt" in e]
    assert attempts == [
        ("1", "0", "7"),
        ("2", "1", "3"),  # task 1: the 3-vote runner-up was right
        ("1", "1", "5"),
        ("2", "0", "0"),
        ("1", "0", "4"),
        ("2", "0", "4"),  # task 2, tests 0 and 1
        ("1", "0", "0"),
        ("2", "0", "0"),
    ]  # task 3: fallbacks
    captions = [e["text"] for e in page.elements if e["tag"] == "figcaption" and "attempt" in e["text"]]
    assert captions[0].startswith("\u2717 attempt 1 \u00b7 7 votes") and captions[1].startswith("\u2713 attempt 2")
    tests = [e["data-state"] for e in page.elements if "data-test" in e]
    assert tests == ["right", "right", "wrong", "wrong"]
    candidates = [e["data-votes"] for e in page.find(tag="tr", **{"class": "candidate"})]
    assert candidates == ["7", "3", "5", "4"]


def test_summary_has_scores_counts_and_an_index(page, taskset):
    cards = {e["data-card"]: e["text"] for e in page.elements if "data-card" in e}
    # macro: (1 + 0.5 + 0) / 3 tasks; micro: 2 of 4 test outputs; one task fully solved
    assert "50.0%" in cards["pass@2 macro"] and "2/4 test outputs" in cards["pass@2 micro"]
    assert "50.0%" in cards["pass@2 micro"] and "1/3" in cards["tasks solved"]
    assert "2 predicted" in cards["statuses"] and "1 failed" in cards["statuses"]
    index = [e for e in page.elements if e["tag"] == "tr" and "data-task" in e]
    assert [r["data-task"] for r in index] == taskset.ids
    assert [r["class"] for r in index] == ["right", "partial", "wrong"]
    assert "unit test run" in page.find(tag="title")[0]["text"]


def test_every_grid_is_drawn_and_the_page_is_self_contained(page, taskset):
    svgs = page.find(tag="svg")
    expected = sum(2 * len(t.train) + 4 * len(t.test_inputs) for t in taskset)  # input, 2 attempts, truth
    assert len(svgs) == expected
    assert not [e for e in page.elements if e["tag"] in ("script", "img", "link", "iframe")]
    assert not [e for e in page.elements if str(e.get("href", "#")).split("#")[0] or e.get("src")]


def test_grid_svg_draws_every_cell_in_the_arc_palette():
    grid = np.array([[0, 0, 3, 3, 3], [9, 1, 1, 2, 2], [5, 5, 5, 5, 5]], np.uint8)
    rects = Page(report.grid_svg(grid)).find(tag="rect")
    drawn = np.full(grid.shape, -1)
    for r in rects:
        x, y, w = int(r["x"]), int(r["y"]), int(r["width"])
        assert (drawn[y, x : x + w] == -1).all()  # no cell drawn twice
        drawn[y, x : x + w] = int(r["class"][1:])
    assert (drawn == grid).all() and len(rects) == 6  # runs of equal cells share a rectangle
    for colour, hex_code in enumerate(PALETTE):
        assert f".c{colour}{{fill:{hex_code if colour else '#000'}}}" in report.STYLE


def test_headless_chromium_renders_the_page(tmp_path, page, taskset, records):
    """scripts/report_screenshot.sh draws the report (skips where Debian's chromium is not installed)."""
    import shutil
    import struct
    import subprocess

    from conftest import REPO

    if not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no chromium (apt-get install -y chromium)")
    sub = submission.build(taskset, {tid: [tuple(p) for p in r["attempts"]] for tid, r in records.items()})
    html_path = tmp_path / "report.html"
    html_path.write_text(report.render(taskset, records, scoring.score(sub, taskset.solutions())))
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [str(REPO / "scripts" / "report_screenshot.sh"), str(html_path), str(shot), "800", "600"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (800, 600)
    from PIL import Image  # matplotlib's dependency

    pixels = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    colours = {rgb for _, rgb in pixels}
    assert (0x2E, 0xCC, 0x40) in colours or (0xFF, 0x41, 0x36) in colours  # ARC cells, not a blank page
