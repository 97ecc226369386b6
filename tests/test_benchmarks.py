"""The benchmark scripts run (smoke mode) and write the JSON their README tables come from."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO

from arc_trm.core.tasks import Task
from arc_trm.solve.records import RecordStore, records_dir
from arc_trm.ttt.trainer import TTTConfig
from benchmarks.pad_share import batch_cells, needed_cells
from benchmarks.solve_primitives import primitive_tasks

pytestmark = pytest.mark.slow  # each runs a benchmark script in a process of its own


def run(*args, out):
    result = subprocess.run(
        [sys.executable, "-m", *args, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_train_step_smoke(tmp_path, reference_dir):
    output = run("benchmarks.train_step", "--smoke", out=tmp_path)
    rows = json.loads((tmp_path / "train_step.json").read_text())["rows"]
    assert [r["config"] for r in rows] == ["official_att", "official_mlp"]
    assert "| official_mlp |" in output  # a smoke test: it runs and reports both configs


@pytest.mark.parametrize("workers", [1, 2])
def test_solve_primitives_smoke(tmp_path, workers):
    # 20 steps end each task long before its 10 s: the time only bounds a machine busy with other work
    output = run(
        "benchmarks.solve_primitives",
        "--seconds",
        "10",
        "--limit",
        str(workers),
        "--workers",
        str(workers),
        "--set",
        "ttt.max_steps=20",
        out=tmp_path,
    )
    result = json.loads((tmp_path / "solve_primitives.json").read_text())
    (row,) = result["rows"]
    assert row["tasks"] == workers and row["seconds_per_task"] == 10 and 0 <= row["solved"] <= workers
    assert row["workers"] == workers and row["task_wall_seconds"] == 10 * workers
    assert set(row["solved_ids"]) | set(row["unsolved"]) == set(primitive_tasks(workers).ids)
    submission = tmp_path / f"primitives_10s{'_2workers' * (workers > 1)}" / "submission.json"
    assert all(r["steps"] > 0 for r in RecordStore(records_dir(submission)).load_all().values())
    assert "| 10 |" in output


def test_step_rate_against_a_revision_smoke(tmp_path):
    output = run(
        "benchmarks.step_rate",
        "--base",
        "HEAD",
        "--threads",
        "1",
        "--steps",
        "2",
        "--sides",
        "5",
        out=tmp_path / "rate.json",
    )
    result = json.loads((tmp_path / "rate.json").read_text())
    (run_,) = result["runs"]
    assert [r["side"] for r in run_["after"]["rows"]] == [r["side"] for r in run_["before"]["rows"]] == [5]
    assert "speedup_train" in run_ and "matmul_gflops" in run_["after"] and "speed-up" in output  # smoke


def test_same_results_of_a_revision_and_this_checkout(tmp_path):
    run("benchmarks.same_results", "--base", "HEAD", "--tasks", "1", "--steps", "5", out=tmp_path / "same.json")
    result = json.loads((tmp_path / "same.json").read_text())
    (task,) = result["after_rows"]
    assert result["after_rows"][task]["steps"] == 5 and result["tasks"] == 1
    assert len(result["after_rows"][task]["votes"]) >= 1  # per test input, the saved candidates' votes
    if "uncommitted" in result["after"]:  # a developer's tree: its changes may touch the math
        pytest.skip("the working tree has uncommitted changes; on a clean checkout HEAD must equal itself")
    assert result["identical"]


def test_primitive_tasks_by_id():
    assert primitive_tasks(only=["ed36ccf7", "0d3d703e"]).ids == ["0d3d703e", "ed36ccf7"]  # the fixed order
    assert len(primitive_tasks()) == 25
    with pytest.raises(ValueError, match="not primitive tasks"):
        primitive_tasks(only=["00000000"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the check runs for real")
def test_gpu_check_without_cuda_says_so_and_checks_parts(tmp_path):
    ok = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", str(tmp_path), "--parts", "groups,oom_retry"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and json.loads((tmp_path / "gpu_check.json").read_text())["error"] == "no CUDA device"
    bad = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", str(tmp_path), "--parts", "nonsense"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown parts" in bad.stderr


def test_gpu_check_rehearsal_runs_the_new_parts_on_the_cpu(tmp_path):
    # paper_step needs the official source (carried to a GPU machine, never committed): rehearsed by hand
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gpu_check",
            str(tmp_path),
            "--rehearse",
            "--parts",
            "canvas_step,torchrun_nccl,cuda_tests",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["rehearsal"] and "cuda_tests" not in result  # a CUDA-only part is left out of a rehearsal
    sides = sorted(map(int, result["canvas_step"]["by_side"]))  # timings on a toy model: measured, not judged
    assert sides[-1] == 30 and len(sides) > 1 and "speedup_over_30x30" in result["canvas_step"]
    assert result["torchrun_nccl"]["returncode"] == 0 and result["torchrun_nccl"]["finished"]


def test_throughput_smoke(tmp_path):
    output = run("benchmarks.throughput", "--smoke", out=tmp_path)
    result = json.loads((tmp_path / "throughput_smoke.json").read_text())
    task, official = result["rows"]
    assert task["task_id"] == official["task_id"] and (task["layout"], official["layout"]) == ("task", "official")
    assert task["canvas"] < official["canvas"] == 30 and official["tokens_per_example"] == 900 + 4
    for row in result["rows"]:
        assert row["train_tokens_per_s"] > 0 and row["rollout_flops_per_s"] > 0 and row["peak_memory_bytes"] > 0
    assert result["matmul_flops_per_s"] > 0 and result["summary"][0]["median_speedup_examples_per_s"] > 0
    assert "| per-task canvas | 1 |" in output and "| official 30x30 | 1 |" in output


def test_ablation_smoke(tmp_path):
    output = run("benchmarks.ablation", "--smoke", out=tmp_path)
    result = json.loads((tmp_path / "ablation.json").read_text())
    runs = {(r["variant"], r["seed"]): r for r in result["runs"]}
    assert set(runs) == {(v, s) for v in ("trm", "deep", "single") for s in (0, 1)}
    forward = {r["forward_flops_per_step"] for r in result["runs"]}
    assert len(forward) == 1  # equal compute per supervision step
    trm, deep, single = runs["trm", 0], runs["deep", 0], runs["single", 0]
    assert deep["layers"] == single["layers"] == trm["T"] * (trm["n"] + 1) * trm["layers"]
    assert single["N_sup"] == 1 and trm["train_flops_per_step"] < deep["train_flops_per_step"]
    assert all(0 <= p["solved"] <= 1 and p["step"] <= 4 for r in result["runs"] for p in r["curve"])
    assert (tmp_path / "ablation.png").stat().st_size > 1000 and "| single | 12 |" in output


def test_generated_sudoku_are_valid_and_checked():
    import numpy as np

    from benchmarks.ablation import BLANK, puzzles, relabel, valid

    inputs, labels = puzzles(50, 18, seed=3)
    assert (inputs == BLANK).sum(-1).tolist() == [18] * 50
    assert valid(inputs, labels).all()
    x, y = relabel(inputs, labels, np.random.default_rng(0))
    assert valid(x, y).all() and ((x == BLANK) == (inputs == BLANK)).all()
    broken = labels.copy()
    broken[:, [0, 1]] = broken[:, [1, 0]]  # two digits of a row swapped: columns break
    assert not valid(inputs, broken).any()
    wrong_given = labels.copy()
    given = np.argmax(inputs != BLANK, axis=1)
    wrong_given[np.arange(50), given] = inputs[np.arange(50), given] % 6 + 2
    assert not valid(inputs, wrong_given).any()


def test_pad_share_counts_the_boxes_with_markers():
    small, big = np.zeros((2, 3), np.uint8), np.zeros((4, 1), np.uint8)
    task = Task("t", [(small, big), (small, small)], [small])
    # (max(2, 4) + 1) x (max(3, 1) + 1) = 20 and 3 x 4 = 12 cells; canvas 4 cuts the first to 4 x 4
    assert needed_cells(task, 9) == (20 + 12) / 2
    assert needed_cells(task, 4) == (4 * 4 + 3 * 4) / 2


def test_a_batch_crop_needs_at_least_its_rows_and_at_most_the_canvas():
    square = np.zeros((3, 3), np.uint8)
    assert batch_cells(Task("s", [(square, square)] * 3, [square]), 9, TTTConfig()) == 16  # every version 4 x 4
    small, big = np.zeros((2, 3), np.uint8), np.zeros((4, 1), np.uint8)
    task = Task("t", [(small, big), (small, small), (small, small)], [small])
    assert needed_cells(task, 9) < batch_cells(task, 9, TTTConfig()) <= 81
