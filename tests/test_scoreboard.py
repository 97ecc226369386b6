"""The scoreboard's protocol: seeded samples, the product path in smoke mode, failure classes, comparison."""

import json

import numpy as np
import pytest
from test_benchmarks import run

from benchmarks import scoreboard

TRUTH = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
OTHER = np.array([[1, 2, 3], [4, 5, 0]], np.uint8)


def candidate(grid, votes):
    return {"grid": np.asarray(grid).tolist(), "votes": votes, "mean_confidence": 0.5}


def test_samples_are_seeded_distinct_and_real():
    first, again, other = (scoreboard.sample("arc1-eval", 30, seed) for seed in (0, 0, 1))
    assert first == again and first != other and len(set(first)) == 30
    assert scoreboard.sample("concept", 1000, 0).__len__() == 160  # a sample larger than the split: all of it
    assert scoreboard.parse_splits("arc1-eval:3,concept:2", 0) == {
        "arc1-eval": first[:3],
        "concept": scoreboard.sample("concept", 2, 0),
    }


def test_each_failure_class():
    def cls(candidates, attempts, canvas=8, voters=10, truth=TRUTH):
        return scoreboard.classify(truth, candidates, attempts, canvas, voters)

    right, wrong = candidate(TRUTH, 6), candidate(OTHER, 6)
    assert cls([right], [TRUTH, TRUTH])["class"] == "solved_1"
    assert cls([wrong, right], [OTHER, TRUTH])["class"] == "solved_2"
    assert cls([], [TRUTH[:1], TRUTH[:1]])["class"] == "nothing_decoded"
    third = cls([wrong, candidate(OTHER.T, 2), candidate(TRUTH, 1)], [OTHER, OTHER.T])
    assert third["class"] == "ranked_3_or_lower" and third["rank"] == 3 and third["top_votes"] == [6, 2, 1]
    assert cls([candidate(OTHER, 9)], [OTHER, OTHER], canvas=2)["class"] == "canvas_too_small"
    assert cls([candidate(OTHER.T, 9)], [OTHER.T, OTHER.T])["class"] == "wrong_shape"
    scattered = cls([candidate(OTHER, 2)], [OTHER, OTHER])
    assert scattered["class"] == "votes_scattered" and scattered["wrong_cells"] == 1 / 6
    assert cls([wrong], [OTHER, OTHER])["class"] == "wrong_cells"
    copied = scoreboard.classify(TRUTH, [wrong], [OTHER, OTHER], 8, 10, test_input=OTHER)
    assert copied["top_is_input"] and not cls([wrong], [OTHER, OTHER])["top_is_input"]
    assert set(scoreboard.CLASSES) == {
        "solved_1",
        "solved_2",
        "nothing_decoded",
        "ranked_3_or_lower",
        "canvas_too_small",
        "wrong_shape",
        "votes_scattered",
        "wrong_cells",
    }


@pytest.mark.slow
def test_smoke_runs_evaluate_and_compare_reads_it(tmp_path):
    output = run("benchmarks.scoreboard", "--smoke", "--runs", str(tmp_path / "runs"), out=tmp_path)
    result = json.loads((tmp_path / "scoreboard_smoke.json").read_text())
    assert result["protocol"]["steps"] == scoreboard.SMOKE["steps"]
    assert set(result["splits"]) == set(scoreboard.SMOKE["splits"])
    for split, ids in scoreboard.SMOKE["splits"].items():
        s = result["splits"][split]
        assert [row["task_id"] for row in s["tasks"]] == ids and "pass@2 macro" in output
        assert sum(s["classes"].values()) == s["n_test"]
        assert s["n_correct"] == s["classes"]["solved_1"] + s["classes"]["solved_2"]
        assert all(row["steps"] == scoreboard.SMOKE["steps"] and row["status"] == "predicted" for row in s["tasks"])
        assert (tmp_path / "runs" / "smoke" / split / "report.html").is_file()
    assert scoreboard.rescore(json.loads(json.dumps(result)))["splits"] == result["splits"]  # re-read: the same
    other = json.loads(json.dumps(result))
    row = other["splits"]["concept"]["tasks"][0]
    before = row["n_correct"]
    row["n_correct"] = before + 1
    table = scoreboard.compare(result, other)
    assert f"| {row['task_id']} |" in table and f"concept {row['task_id']}: {before} -> {before + 1}" in table
    assert "changed (1)" in table
