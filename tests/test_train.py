"""Pretraining on configs/debug.yaml with real tasks: exact resume, evaluation and checkpoints, and a 2-process
gloo run through torchrun and the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from arc_trm.core.config import ConfigError, load_config, to_dict
from arc_trm.core.tasks import Task
from arc_trm.data import task_encoding
from arc_trm.data.dataset import PretrainData
from arc_trm.eval import scoring
from arc_trm.model import TRM, TRMConfig, checkpoint
from arc_trm.train.pretrain import TrainConfig, cost_model, model_for_run, train
from arc_trm.train.run import read_metrics
from arc_trm.ttt import trainer as ttt

REPO = Path(__file__).resolve().parents[1]
DEBUG = REPO / "configs" / "debug.yaml"


def _losses(run: Path) -> list[tuple]:
    return [
        (r["step"], r["loss"], r["lm_loss"], r["q_halt_loss"], r["accuracy"])
        for r in read_metrics(run)
        if r["kind"] == "train"
    ]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """An uninterrupted single-process run of 4 steps, evaluated (and checkpointed) at steps 2 and 4."""
    cfg = load_config(TrainConfig, DEBUG, ["steps=4", "eval_every=2"])
    run = tmp_path_factory.mktemp("whole")
    return cfg, run, train(cfg, run)


@pytest.mark.slow
def test_a_resumed_run_reproduces_the_uninterrupted_run_and_evaluates_with_ema(whole, tmp_path):
    cfg, run, whole = whole
    stopped = train(cfg, tmp_path / "split", stop_at=1)  # between evaluations: the persistent batch is mid-flight
    assert stopped["steps"] == 1 and not stopped["eval"]
    with open(tmp_path / "split" / "metrics.jsonl", "a") as f:  # as if killed after logging step 2, unsaved
        f.write(
            json.dumps({"kind": "train", "step": 2, "loss": 9.0, "lm_loss": 9.0, "q_halt_loss": 9.0, "accuracy": 0.0})
            + "\n"
        )
    resumed = train(cfg, tmp_path / "split")
    assert resumed["steps"] == whole["steps"] == 4

    assert len(_losses(run)) == 4 and _losses(tmp_path / "split") == _losses(run)
    assert resumed["params_digest"] == whole["params_digest"]
    evals = [r for r in read_metrics(tmp_path / "split") if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    assert [r["param_digests"] for r in evals] == [r["param_digests"] for r in read_metrics(run) if r["kind"] == "eval"]

    assert load_config(TrainConfig, run / "config.yaml") == cfg
    data = PretrainData.build(cfg.data)
    assert json.loads((run / "identifiers.json").read_text()) == data.identifiers()
    # The evaluation: pass@k recorded = the written submission scored against the held-out test outputs.
    last = [r for r in read_metrics(run) if r["kind"] == "eval"][-1]
    answers = json.loads((run / "evals" / "step_4" / "submission.json").read_text())
    solutions = data.solutions(data.eval_groups())
    assert set(answers) == set(solutions) and len(solutions) == cfg.data.eval_tasks
    assert last["pass@2"] == scoring.score(answers, solutions, k=2).macro
    assert last["pass@1"] == scoring.score(answers, solutions, k=1).macro <= last["pass@2"]
    # The checkpoint holds the EMA weights (not the raw ones) and starts test-time training as solve does.
    model = checkpoint.load_any(run / "checkpoints" / "step_4.pt")
    state = torch.load(run / "resume" / "state.pt", weights_only=True)
    shadow = state["trainer"]["ema"]["shadow"]
    assert all(torch.equal(p, shadow[n]) for n, p in model.named_parameters())
    assert not all(torch.equal(p, state["model"][n]) for n, p in model.named_parameters())
    assert model.puzzle_emb.weight.shape[0] == data.num_puzzle_ids
    task = data.groups[0]
    tuned = ttt.from_pretrained(model, 2, torch.device("cpu"))
    trainer = ttt.Trainer(tuned, ttt.TTTConfig(train="embeddings", batch_size=2))
    small = Task(task.task_id, task.pairs, [task.pairs[0][0]])
    assert trainer.step(task_encoding.task_data(small, [data.aug(0), data.aug(1)], 30).sample(2))["loss"] > 0


def test_another_config_in_the_same_run_folder_is_refused(tmp_path):
    cfg = load_config(TrainConfig, DEBUG, ["steps=1", "eval_every=1", "data.eval_tasks=1", "data.eval_versions=1"])
    train(cfg, tmp_path)
    with pytest.raises(ConfigError, match="optim"):
        train(load_config(TrainConfig, DEBUG, ["steps=1", "optim.lr=0.5"]), tmp_path)


def test_cost_model_counts_the_paper_model():
    data = PretrainData.build(load_config(TrainConfig, DEBUG).data)
    paper = load_config(TrainConfig, REPO / "configs" / "arc1.yaml")
    model = TRM(TRMConfig(**{**to_dict(paper.model), "num_puzzle_ids": 3}))
    costs = cost_model(model, paper, data, 10)
    assert costs["params"] == 6_829_058  # TRM_SPEC 1.4, the puzzle table aside
    assert costs["tokens_per_step"] == 768 * 916
    # per token and network call: 2 x (2 blocks' params) + attention scores 4 x L x D x layers; T(n+1) calls
    # forward, backward ~ 2 x the last n+1 calls
    per_call = 2 * 2 * 3_407_872 + 4 * 916 * 512 * 2
    calls = 3 * 5 + 2 * 5
    assert costs["flops_per_step"] == pytest.approx(768 * 916 * per_call * calls, rel=0.01)


@pytest.mark.slow
def test_two_gloo_processes_through_torchrun_keep_the_same_weights(whole, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    out = tmp_path / "run"
    command = [
        str(bin_dir / "torchrun"),
        "--standalone",
        "--nproc-per-node",
        "2",
        "--no-python",
        str(bin_dir / "arc-trm"),
        "train",
        "--recipe",
        "official",
        "--config",
        str(DEBUG),
        "--out",
        str(out),
        "--set",
        "steps=4",
        "--set",
        "eval_every=2",
        "--set",
        "device=cpu",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("cost model (2 process(es), cpu)") == 1  # rank 0 alone prints
    assert "measured" in result.stdout and "eval" in result.stdout
    records = read_metrics(out)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]  # rank 0 alone writes
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    for r in evals:  # every rank's parameters and buffers, hashed after the steps: identical
        assert len(r["param_digests"]) == 2 and r["ranks_in_sync"] and len(set(r["param_digests"])) == 1
    assert sorted(p.name for p in (out / "resume").iterdir()) == ["rank0_step_4.pt", "rank1_step_4.pt", "state.pt"]
    assert yaml.safe_load((out / "config.yaml").read_text())["steps"] == 4
    # Each rank trains on its own half of the global batch and the gradients are summed: the same losses as
    # one process on the whole batch (up to the order of the float sums). Overlapping halves would differ.
    two, one = _losses(out), _losses(whole[1])[:4]
    assert [r[0] for r in two] == [r[0] for r in one]
    assert all(a == pytest.approx(b, rel=1e-4) for r2, r1 in zip(two, one) for a, b in zip(r2[1:], r1[1:]))


def test_init_starts_from_a_checkpoint_with_mean_puzzle_rows_for_other_data(whole):
    cfg, run, _ = whole
    base = checkpoint.load_any(run / "checkpoints" / "step_4.pt")
    other = load_config(TrainConfig, DEBUG, ["data.max_tasks=2", f"init={run / 'checkpoints' / 'step_4.pt'}"])
    data = PretrainData.build(other.data)
    said = []
    model = model_for_run(other, data, torch.device("cpu"), said.append)
    assert all(torch.equal(p, dict(base.named_parameters())[n]) for n, p in model.named_parameters())
    table = model.puzzle_emb.weight
    assert table.shape[0] == data.num_puzzle_ids != base.puzzle_emb.weight.shape[0]
    assert [type(e).__name__ for e in said] == ["Warned"]  # never silent: both sizes on a line of its own
    assert f"{base.puzzle_emb.weight.shape[0]:,} rows" in said[0].text and f"{data.num_puzzle_ids:,}" in said[0].text
    trained = base.puzzle_emb.weight[base.puzzle_emb.weight.abs().sum(-1) > 0]
    assert len(trained) > 0 and torch.allclose(table, trained.mean(0).expand_as(table))
