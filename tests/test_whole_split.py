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


def test_merge_folds_a_shared_splits_rows_into_its_file_and_keeps_the_rows_it_had(tmp_path):
    whole = json.loads(whole_split.results_path("arc2-eval").read_text())  # real rows, committed
    done = [tid for tid in whole["order"] if tid in whole["tasks"]]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir(), theirs.mkdir()
    mine = {**whole, "tasks": {tid: whole["tasks"][tid] for tid in done[:10]}}
    other = {**whole, "order": done[9:], "tasks": {tid: whole["tasks"][tid] for tid in done[9:]}}
    other["tasks"][done[9]] = {**whole["tasks"][done[9]], "steps": -1}  # both hold it: ours stays
    (ours / "whole_arc2-eval.json").write_text(json.dumps(mine))
    (theirs / "whole_arc2-eval.json").write_text(json.dumps(other))

    assert whole_split.merge("arc2-eval", theirs / "whole_arc2-eval.json", ours) == (len(done) - 10, 1)
    merged = json.loads((ours / "whole_arc2-eval.json").read_text())
    assert merged["order"] == whole["order"] and merged["tasks"] == {tid: whole["tasks"][tid] for tid in done}
    assert merged["summary"] == json.loads(json.dumps(whole_split.summarise(whole)))

    with pytest.raises(SystemExit, match="not 'arc1-eval'"):
        whole_split.merge("arc1-eval", theirs / "whole_arc2-eval.json", ours)
    other["protocol"] = {**other["protocol"], "machine_seconds_per_task": 45.0}
    (theirs / "whole_arc2-eval.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="protocol"):
        whole_split.merge("arc2-eval", theirs / "whole_arc2-eval.json", ours)


def test_the_breakdowns_partition_the_committed_rows_and_agree_with_the_summary():
    whole = json.loads(whole_split.results_path("arc2-eval").read_text())  # real rows, committed
    summary = whole_split.summarise(whole)
    for name, parts in whole_split.breakdowns(whole).items():
        assert list(parts) == [key for key in whole_split.ORDER[name] if key in parts], name
        assert sum(p["tasks"] for p in parts.values()) == summary["n_tasks"], name
        assert sum(p["solved"] for p in parts.values()) == summary["n_tasks_solved"], name
        assert sum(p["copies"] for p in parts.values()) == summary["top_is_input"], name
        assert sum(p["wrong_shape"] for p in parts.values()) == summary["classes"]["wrong_shape"], name
    table = whole_split.markdown({**whole, "summary": summary})
    assert f"| *the top grid is the test input unchanged* | *{summary['top_is_input']}* |" in table
