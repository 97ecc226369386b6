"""The arc-trm commands, through Typer's CliRunner, on the shipped examples and real splits."""

import json
import subprocess
import sys

import pytest
from conftest import REPO
from typer.testing import CliRunner

import arc_trm
from arc_trm.core import submission, tasks
from arc_trm_cli.app import app
from arc_trm_cli.options import _reflow

EXAMPLES = REPO / "examples"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_version_and_help():
    assert run("--version").output.strip() == f"arc-trm {arc_trm.__version__}"
    result = run("-h")
    assert result.exit_code == 0
    assert all(name in result.output for name in ("show", "score", "validate"))


def test_show_a_file_an_id_and_tasks_of_a_split():
    result = run("show", EXAMPLES / "tasks" / "3c9b0459.json")
    assert result.exit_code == 0
    assert "train 3 in 3x3" in result.output and "test 0 out 3x3" in result.output
    assert "2 2 1" in result.output  # the first row of the first demonstration, as digits
    result = run("show", "AboveBelow1", "--no-answers")  # a task id, looked up in every split
    assert result.exit_code == 0 and "AboveBelow1" in result.output and "test 0 out" not in result.output
    result = run("show", EXAMPLES / "tasks", "--ids", "25ff71a9,3c9b0459", "--limit", "1")
    assert result.exit_code == 0 and "25ff71a9" in result.output and "3c9b0459" not in result.output


def test_show_unknown_id_fails_clearly():
    result = run("show", "arc1-eval", "--ids", "nosuchtask")
    assert result.exit_code == 2 and "nosuchtask" in result.output
    result = run("show", "nosuchtask")
    assert result.exit_code == 2 and "nosuchtask" in result.output


def test_score_examples_and_json(tmp_path):
    out = tmp_path / "scores.json"
    result = run("score", EXAMPLES / "submission.json", "--solutions", EXAMPLES / "tasks", "--out", out)
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
    result = run("score", path, "--solutions", "arc2-eval", "-q")
    assert result.exit_code == 0
    assert "macro 10.00%" in result.output  # 12 of 120 tasks right


def test_score_needs_the_answers_and_a_readable_file(tmp_path):
    result = run("score", EXAMPLES / "submission.json")
    assert result.exit_code == 2 and "--solutions" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run("score", bad, "--solutions", "arc1-eval")
    assert result.exit_code == 2 and "bad.json" in result.output and "not valid JSON" in result.output


def test_validate(tmp_path):
    assert run("validate", EXAMPLES / "submission.json", EXAMPLES / "tasks").exit_code == 0
    assert run("validate", EXAMPLES / "submission.json").exit_code == 2  # TASKS is required
    sub = json.loads((EXAMPLES / "submission.json").read_text())
    del sub["3c9b0459"]
    sub["25ff71a9"][1].pop("attempt_2")
    sub["0d3d703e"][0]["attempt_1"] = [[1, 2], [3]]
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(sub))
    result = run("validate", path, EXAMPLES / "tasks")
    assert result.exit_code == 1
    for expected in ("3c9b0459: missing task", "25ff71a9[1]: missing attempt_2", "0d3d703e[0].attempt_1"):
        assert expected in result.output


def test_light_commands_start_without_torch_or_scipy():
    """-h, show, validate and score's help import neither torch nor scipy: they start in well under a second."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom arc_trm_cli.app import app\n"
        "for args in (['-h'], ['show', '-h'], ['validate', '-h'], ['score', '-h'], ['solve', '-h']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["solve"],
        ["train"],
        ["evaluate"],
        ["score"],
        ["report"],
        ["show"],
        ["validate"],
        ["parity"],
        ["kaggle"],
        ["kaggle", "build"],
    ],
)
def test_help_screens_have_no_type_names_for_flags(command):
    result = CliRunner().invoke(app, [*command, "-h"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "<list" not in result.output
    assert "--help" in result.output and "-h" in result.output


def test_help_paragraphs_are_reflowed_and_examples_kept():
    text = "First line.\n\nA paragraph\nover two lines.\n\n    arc-trm solve x\n    arc-trm score y"
    assert _reflow(text) == "First line.\n\nA paragraph over two lines.\n\n    arc-trm solve x\n    arc-trm score y"


def test_solve_selects_tasks_and_strict_fails_on_a_failed_task(tmp_path):
    quick = ["--set", "ttt.max_steps=3", "--set", "ttt.versions=4", "--seed", "1", "--device", "cpu"]
    out = tmp_path / "sub.json"
    result = run("solve", "--ids", "3c9b0459,0d3d703e", "--limit", "1", "--out", out, "-q", *quick)
    assert result.exit_code == 0, result.output
    assert list(submission.read(out)) == ["3c9b0459"]
    record = json.loads((tmp_path / "sub.json.records" / "3c9b0459.json").read_text())
    assert record["config"]["seed"] == 1 and record["config"]["device"] == "cpu"  # the shortcuts' --set
    broken = [*quick, "--set", "ttt.loss=nope", "--limit", "1", "--out", tmp_path / "b.json", "-q", "--fresh"]
    assert run("solve", *broken).exit_code == 0  # a failed task still leaves a complete submission
    assert run("solve", *broken, "--strict").exit_code == 1


def test_solve_dry_run_trains_nothing_and_writes_nothing(tmp_path):
    result = run("solve", "--dry-run", "--limit", "2", "--out", tmp_path / "sub.json")
    assert result.exit_code == 0, result.output
    assert "0d3d703e" in result.output and "25ff71a9" in result.output and "task_seconds: 45" in result.output
    assert "the run would end about" in result.output and not (tmp_path / "sub.json").exists()


def test_train_needs_a_known_recipe_and_never_guesses_it(tmp_path):
    out = tmp_path / "run"
    unnamed = run("train", "--config", REPO / "configs" / "debug.yaml", "--out", out)
    assert unnamed.exit_code == 2 and "name the recipe: --recipe official" in unnamed.output
    assert "--recipe prior" in unnamed.output and len(unnamed.output.strip().splitlines()) == 1
    unknown = run("train", "--recipe", "task-canvas", "--config", REPO / "configs" / "prior.yaml", "--out", out)
    assert unknown.exit_code == 2 and "official" in unknown.output and "prior" in unknown.output
    crossed = run("train", "--recipe", "official", "--config", REPO / "configs" / "prior.yaml", "--out", out)
    assert crossed.exit_code == 2 and "prior.yaml" in crossed.output and "unknown key" in crossed.output
    assert (
        run("train", "--recipe", "prior", "--official", REPO / "configs" / "arc1.yaml", "--data", "arc1").exit_code == 2
    )
    assert not out.exists()  # nothing trained, nothing written
