"""`arc-trm evaluate` and `arc-trm report` end to end: a real (tiny, short) solve of real ARC-AGI-1 tasks."""

import json
import os
from html.parser import HTMLParser

import pytest
from conftest import REPO
from typer.testing import CliRunner

from arc_trm.core import submission, tasks
from arc_trm.eval import scoring
from arc_trm.eval.evaluate import evaluate, write_report
from arc_trm.solve.records import RecordStore, records_dir
from arc_trm_cli.app import app

IDS = ["66e6c45b", "60c09cac"]  # 4x4 and 6x6 grids of the ARC-AGI-1 evaluation split
QUICK = ["--set", "ttt.max_steps=15", "--set", "ttt.versions=8", "--set", "device=cpu"]
ENV = {**os.environ, "COLUMNS": "400"}


class Marks(HTMLParser):
    """The task sections and attempt figures of a report, by their data- attributes."""

    def __init__(self, text):
        super().__init__()
        self.sections, self.attempts = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "data-task" in attrs:
            self.sections.append(attrs)
        if "data-attempt" in attrs:
            self.attempts.append((self.sections[-1]["data-task"], attrs))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    result = CliRunner().invoke(
        app, ["evaluate", "arc1-eval", "--ids", ",".join(IDS), "--out", str(run_dir), "-q", *QUICK], env=ENV
    )
    assert result.exit_code == 0, result.output
    return run_dir, result.output


def test_the_run_folder_holds_submission_records_scores_and_report(run):
    run_dir, output = run
    split = tasks.load("arc1-eval")
    chosen = tasks.TaskSet([split[i] for i in IDS])
    sub = submission.read(run_dir / "submission.json")
    assert submission.validate(sub, chosen) == []
    records = RecordStore(records_dir(run_dir / "submission.json")).load_all()
    assert sorted(records) == sorted(IDS) and all(r["steps"] == 15 for r in records.values())
    saved = json.loads((run_dir / "scores.json").read_text())
    assert saved == scoring.score(sub, chosen.solutions()).to_json()
    assert [row["task_id"] for row in saved["tasks"]] == IDS and saved["n_test"] == 2
    assert "pass@2: macro" in output and "report.html" in output
    assert tasks.load(run_dir / "tasks.json").ids == IDS


def test_the_report_shows_the_submitted_attempts_and_their_marks(run):
    run_dir, _ = run
    page = Marks((run_dir / "report.html").read_text())
    assert [s["data-task"] for s in page.sections] == IDS
    sub = submission.read(run_dir / "submission.json")
    truth = tasks.load(run_dir / "tasks.json").solutions()
    records = RecordStore(records_dir(run_dir / "submission.json")).load_all()
    for section in page.sections:
        tid = section["data-task"]
        right = scoring.solved(sub[tid][0], truth[tid][0])
        assert section["data-solved"] == str(int(right)) and section["data-state"] == ("right" if right else "wrong")
        mine = [a for t, a in page.attempts if t == tid]
        assert [a["data-right"] for a in mine] == [
            str(int(sub[tid][0][f"attempt_{j}"] == truth[tid][0].tolist())) for j in (1, 2)
        ]
        votes = {json.dumps(c["grid"]): c["votes"] for c in records[tid]["candidates"][0]}
        assert [int(a["data-votes"]) for a in mine] == [
            votes.get(json.dumps(sub[tid][0][f"attempt_{j}"]), 0) for j in (1, 2)
        ]


def test_report_rebuilds_the_page(run):
    run_dir, _ = run
    before = (run_dir / "report.html").read_text()
    (run_dir / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(run_dir)], env=ENV)
    assert result.exit_code == 0, result.output
    assert (run_dir / "report.html").read_text() == before
    assert "<title>arc-trm report: arc1-eval, 2 tasks</title>" in before
    result = CliRunner().invoke(app, ["report", str(run_dir), "--title", "renamed"], env=ENV)
    assert "<title>arc-trm report: renamed</title>" in (run_dir / "report.html").read_text()


def test_clear_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(tmp_path)], env=ENV)
    assert result.exit_code == 2 and "not an evaluation run folder" in result.output
    result = runner.invoke(
        app, ["evaluate", "arc1-eval", "--ids", "nonexistent", "--out", str(tmp_path / "x")], env=ENV
    )
    assert result.exit_code == 2 and "nonexistent" in result.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            "arc1-eval",
            "--limit",
            "1",
            "--checkpoint",
            str(tmp_path / "none.pt"),
            "--out",
            str(tmp_path / "y"),
            "-q",
        ],
        env=ENV,
    )
    assert result.exit_code == 2 and "none.pt: no such checkpoint file" in result.output
    blind = tasks.load("arc1-eval")["66e6c45b"]
    blind.test_outputs = None
    with pytest.raises(ValueError, match="no known test outputs"):
        evaluate(tasks.TaskSet([blind]), tmp_path / "blind", None)
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "missing")


def test_ids_and_limit_choose_the_tasks():
    from arc_trm_cli.options import id_list

    split = tasks.load("arc1-eval")
    assert split.select(id_list("60c09cac, 66e6c45b")).ids == ["60c09cac", "66e6c45b"]  # in the order given
    assert split.select(id_list("60c09cac,66e6c45b"), 1).ids == ["60c09cac"]
    assert split.select(None, 3).ids == split.ids[:3]
    with pytest.raises(KeyError, match="nope"):
        split.select(["nope"])


def test_report_of_a_solve_run_with_and_without_answers(tmp_path):
    runner = CliRunner()
    out = tmp_path / "sub.json"
    solved = runner.invoke(
        app,
        [
            "solve",
            "--ids",
            "3c9b0459",
            "--out",
            str(out),
            "-q",
            "--set",
            "ttt.max_steps=3",
            "--set",
            "ttt.versions=4",
        ],
        env=ENV,
    )
    assert solved.exit_code == 0, solved.output
    examples = REPO / "examples" / "tasks"
    result = runner.invoke(app, ["report", str(out), str(examples / "3c9b0459.json")], env=ENV)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "sub.report.html").read_text()
    assert 'data-task="3c9b0459"' in page and "pass@2 macro" in page  # the task file holds its answer
    blind = json.loads((examples / "3c9b0459.json").read_text())
    blind["test"] = [{"input": t["input"]} for t in blind["test"]]
    (tmp_path / "blind").mkdir()
    (tmp_path / "blind" / "3c9b0459.json").write_text(json.dumps(blind))
    assert runner.invoke(app, ["report", str(out), str(tmp_path / "blind")], env=ENV).exit_code == 0
    page = (tmp_path / "sub.report.html").read_text()
    assert "truth unknown" in page and "pass@2 macro" not in page
    missing = runner.invoke(app, ["report", str(out)], env=ENV)
    assert missing.exit_code == 2 and "needs TASKS" in missing.output
