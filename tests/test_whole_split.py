"""The whole-split run: a results file that grows task by task and picks up where it was, in the seeded order."""

import json

import pytest

from benchmarks import scoreboard, whole_split


@pytest.mark.slow
def test_a_stopped_run_resumes_where_it_was_and_the_order_extends_the_scoreboard_sample(tmp_path):
    out, runs = tmp_path / "results", tmp_path / "runs"
    fast = [
        "--seconds",
        "20",
        "--set",
        "ttt.max_steps=5",
        "--set",
        "ttt.versions=4",
        "--out",
        str(out),
        "--runs",
        str(runs),
    ]
    whole_split.main(["concept", "--max-tasks", "1", *fast])
    first = json.loads((out / "whole_concept.json").read_text())
    assert first["order"][:20] == scoreboard.sample("concept", 20)  # the scoreboard's sample is its prefix
    assert list(first["tasks"]) == first["order"][:1]
    whole_split.main(["concept", "--max-tasks", "2", "--chunk", "2", *fast])  # a new process: only the next two
    second = json.loads((out / "whole_concept.json").read_text())
    assert list(second["tasks"]) == second["order"][:3]
    assert second["tasks"][first["order"][0]] == first["tasks"][first["order"][0]]  # kept, not redone
    summary = second["summary"]
    assert summary["n_tasks"] == 3 and summary["of"] == 160 and sum(summary["classes"].values()) == summary["n_test"]
    row = second["tasks"][second["order"][2]]
    assert row["steps"] == 5 and row["commit"] and row["status"] == "predicted"
    assert "| output shape |" in whole_split.markdown(second)
