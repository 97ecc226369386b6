"""The benchmark scripts run (smoke mode) and write the JSON their README tables come from."""

import json
import subprocess
import sys

from conftest import REPO


def run(*args, out):
    result = subprocess.run([sys.executable, "-m", *args, "--out", str(out)], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_train_step_smoke(tmp_path, reference_dir):
    output = run("benchmarks.train_step", "--smoke", out=tmp_path)
    rows = json.loads((tmp_path / "train_step.json").read_text())["rows"]
    assert [r["config"] for r in rows] == ["official_att", "official_mlp"]
    assert all(r["seconds"] > 0 for r in rows) and "| official_mlp |" in output


def test_solve_primitives_smoke(tmp_path):
    output = run("benchmarks.solve_primitives", "--seconds", "4", "--limit", "1", "--set", "ttt.max_steps=20",
                 out=tmp_path)
    result = json.loads((tmp_path / "solve_primitives.json").read_text())
    (row,) = result["rows"]
    assert row["tasks"] == 1 and row["seconds_per_task"] == 4 and 0 <= row["solved"] <= 1
    assert set(row["solved_ids"]) | set(row["unsolved"]) == {"0d3d703e"}
    assert "| 4 |" in output
