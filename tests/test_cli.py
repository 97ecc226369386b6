"""The arc-trm commands, through Typer's CliRunner, on the shipped examples and real splits."""

import json

import pytest
from typer.testing import CliRunner

import arc_trm
from arc_trm import submission, tasks
from arc_trm_cli.app import app
from conftest import REPO

EXAMPLES = REPO / "examples"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_version_and_help():
    assert run("--version").output.strip() == f"arc-trm {arc_trm.__version__}"
    result = run("-h")
    assert result.exit_code == 0
    assert all(name in result.output for name in ("show", "score", "validate"))


def test_show_a_file_and_an_id():
    result = run("show", EXAMPLES / "tasks" / "3c9b0459.json")
    assert result.exit_code == 0
    assert "train 3 in 3x3" in result.output and "test 0 out 3x3" in result.output
    assert "2 2 1" in result.output  # the first row of the first demonstration, as digits
    result = run("show", "AboveBelow1", "--split", "concept", "--no-answers")
    assert result.exit_code == 0 and "AboveBelow1" in result.output and "test 0 out" not in result.output


def test_show_unknown_id_fails_clearly():
    result = run("show", "nosuchtask", "--split", "arc1-eval")
    assert result.exit_code == 2 and "nosuchtask" in result.output


def test_score_examples_and_json(tmp_path):
    out = tmp_path / "scores.json"
    result = run("score", EXAMPLES / "submission.json", "--solutions", EXAMPLES / "tasks", "--json", out)
    assert result.exit_code == 0, result.output
    assert "macro 50.00%" in result.output and "3c9b0459" in result.output
    scores = json.loads(out.read_text())
    assert scores["macro"] == 0.5 and scores["micro"] == pytest.approx(2 / 5) and scores["k"] == 2
    result = run("score", EXAMPLES / "submission.json", "--solutions", EXAMPLES / "tasks", "-k", "1", "-q")
    assert "macro 0.00%" in result.output  # the right answers are all second attempts


def test_score_against_a_split(tmp_path):
    arc2 = tasks.load("arc2-eval")
    attempts = {t.id: [(g, g) for g in t.test_outputs] for t in arc2.tasks[:12]}
    path = submission.write(submission.build(arc2, attempts), tmp_path / "sub.json")
    result = run("score", path, "--split", "arc2-eval", "-q")
    assert result.exit_code == 0
    assert "macro 10.00%" in result.output  # 12 of 120 tasks right


def test_score_needs_exactly_one_truth_source_and_a_readable_file(tmp_path):
    assert run("score", EXAMPLES / "submission.json").exit_code == 2
    both = run("score", EXAMPLES / "submission.json", "--split", "arc1-eval", "--solutions", EXAMPLES / "tasks")
    assert both.exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run("score", bad, "--split", "arc1-eval")
    assert result.exit_code == 2 and "bad.json" in result.output and "not valid JSON" in result.output


def test_validate(tmp_path):
    assert run("validate", EXAMPLES / "submission.json", "--tasks", EXAMPLES / "tasks").exit_code == 0
    sub = json.loads((EXAMPLES / "submission.json").read_text())
    del sub["3c9b0459"]
    sub["25ff71a9"][1].pop("attempt_2")
    sub["0d3d703e"][0]["attempt_1"] = [[1, 2], [3]]
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(sub))
    result = run("validate", path, "--tasks", EXAMPLES / "tasks")
    assert result.exit_code == 1
    for expected in ("3c9b0459: missing task", "25ff71a9[1]: missing attempt_2", "0d3d703e[0].attempt_1"):
        assert expected in result.output
