"""The prior's pretraining (configs/prior.yaml) on real training tasks: what it never trains on, an exact resume,
the checkpoint chosen by held-out pass@2, the shipped form, and solve starting from it through the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from arc_trm.core import tasks
from arc_trm.core.config import load_config
from arc_trm.model import checkpoint
from arc_trm.solve.config import SolveConfig
from arc_trm.train.prior import (
    PriorConfig,
    PriorData,
    copy_cell_accuracy,
    export_prior,
    init_provenance,
    initial_model,
    pretraining_tasks,
    ship,
    train_prior,
    training_seconds,
)
from arc_trm_cli.app import app

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "data.max_tasks=6",
    "data.eval_tasks=2",
    "data.eval_versions=2",
    "ttt.versions=2",
    "steps=8",
    "eval_every=4",
    "save_every=4",
    "log_every=2",
]


def _config(*extra: str) -> PriorConfig:
    return load_config(PriorConfig, REPO / "configs" / "prior.yaml", TINY + list(extra))


def test_the_pretraining_tasks_hold_nothing_of_the_measured_splits():
    kept = pretraining_tasks(PriorData())
    ids = {t.id for t in kept}
    measured = {t.id for name in ("arc1-eval", "arc2-eval", "concept") for t in tasks.load(name)}
    arc2_train = {t.id for t in tasks.load("arc2-train")}
    assert not ids & measured
    assert len(arc2_train & {t.id for t in tasks.load("arc1-eval")}) == 376  # the overlap the rule removes
    # arc1-train is fair, except 40853293, whose demonstrations are those of arc1-eval 070dd51e
    assert {t.id for t in tasks.load("arc1-train")} - ids == {"40853293"}
    assert len(ids) == len(kept) > 600  # each task once


@pytest.mark.slow
def test_a_resumed_run_is_the_uninterrupted_run_and_best_is_an_evaluated_checkpoint(tmp_path):
    config = _config()
    whole = train_prior(config, tmp_path / "whole")
    train_prior(config, tmp_path / "split", stop_at=4)
    split = train_prior(config, tmp_path / "split")
    assert whole["steps"] == split["steps"] == 8
    for name in ("step_8.pt", "best.pt"):
        assert (tmp_path / "whole" / "checkpoints" / name).read_bytes() == (
            tmp_path / "split" / "checkpoints" / name
        ).read_bytes()
    evals = [
        json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines() if '"eval"' in line
    ]
    assert [e["step"] for e in evals] == [4, 8]
    best = max(evals, key=lambda e: (e["pass@2"], e["cell_accuracy"], e["step"]))
    assert whole["best"]["step"] == best["step"]
    # The resume state: plain types only (weights_only=True), the canvases' batches and the data draws' position.
    shared = torch.load(tmp_path / "split" / "resume" / "state.pt", weights_only=True)
    own = torch.load(tmp_path / "split" / "resume" / "rank0_step_8.pt", weights_only=True)
    assert shared["step"] == 8 and shared["best"]["step"] == whole["best"]["step"]
    assert shared["rng"]["bit_generator"] == "PCG64"
    assert own["carry"] is None and own["carries"] and all(c["y"].shape[0] > 0 for c in own["carries"].values())


def test_a_resume_file_that_does_not_load_with_weights_only_is_refused(tmp_path):
    (tmp_path / "resume.pt").write_bytes(b"pickled by the earlier prior code")
    with pytest.raises(ValueError, match=r"resume\.pt: a resume file of the earlier prior code.*--fresh"):
        train_prior(_config("steps=2", "eval_every=2"), tmp_path)
    train_prior(_config("steps=2", "eval_every=2"), tmp_path, fresh=True)
    assert not (tmp_path / "resume.pt").exists()
    (tmp_path / "resume" / "state.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"state\.pt: not a resume file that loads with weights_only=True"):
        train_prior(_config("steps=4", "eval_every=2"), tmp_path)


def test_the_shipped_prior_keeps_the_network_and_one_mean_puzzle_row(tmp_path):
    train_prior(_config(), tmp_path / "run")
    shipped = export_prior(tmp_path / "run" / "checkpoints" / "best.pt", tmp_path / "prior.pt", {"note": "test"})
    full = checkpoint.load_any(tmp_path / "run" / "checkpoints" / "best.pt")
    small = checkpoint.load_any(shipped)
    assert small.puzzle_emb.weight.shape[0] == 2
    table = full.puzzle_emb.weight
    assert torch.allclose(small.puzzle_emb.weight[1], table[table.abs().sum(-1) > 0].mean(0))
    for name, value in full.state_dict().items():
        if name != "puzzle_emb.weight":
            assert torch.equal(value, small.state_dict()[name]), name
    assert torch.load(shipped, weights_only=True)  # loadable without unpickling code
    meta = json.loads(checkpoint.meta_path(ship(tmp_path / "run", tmp_path / "shipped.pt")).read_text())
    provenance = meta["provenance"]
    assert provenance["data"]["excluded"] == ["arc1-eval", "arc2-eval", "concept"] and provenance["steps_run"] == 8
    assert provenance["best_step"] in (4, 8) and [e["step"] for e in provenance["evaluations"]] == [4, 8]
    assert provenance["config"]["ttt"]["versions"] == 2


def test_a_run_continued_from_the_shipped_prior_starts_from_its_network_and_says_so(tmp_path):
    prior = checkpoint.load_any(checkpoint.locate("prior"))
    start = initial_model(_config("init=prior"), 5)
    table = prior.puzzle_emb.weight
    assert start.puzzle_emb.weight.shape[0] == 6 and torch.equal(start.puzzle_emb.weight[3], table[1])
    for name, value in prior.state_dict().items():
        if name != "puzzle_emb.weight":
            assert torch.equal(value, start.state_dict()[name]), name
    scratch = initial_model(_config(), 5)
    assert not torch.equal(scratch.state_dict()["lm_head.weight"], prior.state_dict()["lm_head.weight"])

    train_prior(_config("init=prior", "steps=2", "eval_every=2"), tmp_path / "run")
    shipped = json.loads(checkpoint.meta_path(ship(tmp_path / "run", tmp_path / "p.pt")).read_text())["provenance"]
    before = json.loads(checkpoint.meta_path(checkpoint.locate("prior")).read_text())["provenance"]
    kept = ("best_step", "steps_run", "training_seconds")
    assert shipped["init"] == {"checkpoint": "prior", **{k: before[k] for k in kept}}
    official = tmp_path / "official.pt"  # an official checkpoint: no metadata file beside it
    assert init_provenance(str(official)) == {"checkpoint": str(official)}

    differs = r"prior\.pt: its model differs from the config's in hidden_size"
    with pytest.raises(checkpoint.CheckpointError, match=differs):
        initial_model(_config("init=prior", "model.hidden_size=32"), 5)


def test_train_cli_runs_the_prior_recipe_and_solve_starts_from_it(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--recipe",
            "prior",
            "--config",
            str(REPO / "configs" / "prior.yaml"),
            "--out",
            str(run),
            *[a for o in TINY for a in ("--set", o)],
        ],
    )
    assert result.exit_code == 0, result.output
    assert "prior on cpu" in result.output and "pass@2" in result.output and "finished at step 8" in result.output
    out = tmp_path / "s.json"
    solved = CliRunner().invoke(
        app,
        [
            "solve",
            str(REPO / "examples" / "tasks"),
            "--out",
            str(out),
            "-q",
            "--checkpoint",
            str(run / "checkpoints" / "best.pt"),
            "--set",
            "ttt.max_steps=3",
            "--set",
            "ttt.versions=2",
        ],
    )
    assert solved.exit_code == 0, solved.output
    answers = json.loads(out.read_text())
    assert answers and all(isinstance(v, list) and v for v in answers.values())


@pytest.mark.parametrize("change", ["ttt.lr=0.5", "model.hidden_size=32"])
def test_a_run_folder_of_another_config_is_an_error_unless_fresh(tmp_path, change):
    train_prior(_config("steps=2", "eval_every=2"), tmp_path)
    with pytest.raises(ValueError, match="another config"):
        train_prior(_config("steps=2", "eval_every=2", change), tmp_path)
    again = train_prior(_config("steps=2", "eval_every=2", change), tmp_path, fresh=True)
    assert again["steps"] == 2 and again["best"]["step"] == 2


def test_machine_time_counts_a_paused_log_window_at_the_median_step():
    train = [{"step": s, "step_seconds": 0.1} for s in (100, 200, 300)] + [{"step": 400, "step_seconds": 30.0}]
    seconds, paused = training_seconds(train)
    assert paused == 1 and seconds == pytest.approx(40.0)
    assert training_seconds(train[:3]) == (pytest.approx(30.0), 0)


def test_the_copy_floor_counts_right_cells_of_the_input_and_zero_for_another_shape():
    a = np.array([[1, 2], [3, 4]], np.uint8)
    same_shape = tasks.Task("t", [(a, a)], [a], [np.array([[1, 2], [0, 0]], np.uint8)])
    other_shape = tasks.Task("u", [(a, a)], [a], [np.zeros((1, 2), np.uint8)])
    assert copy_cell_accuracy([same_shape]) == 0.5
    assert copy_cell_accuracy([same_shape, other_shape]) == 0.25


def test_the_shipped_prior_is_named_prior_and_none_means_from_scratch():
    assert checkpoint.locate("prior") == REPO / "arc_trm" / "assets" / "prior" / "prior.pt"
    assert checkpoint.locate("runs/x.pt") == Path("runs/x.pt")
    model = checkpoint.load_for_solve("prior")
    assert model.config.hidden_size == load_config(PriorConfig, REPO / "configs" / "prior.yaml").model.hidden_size
    for unset in ("none", "None", "null"):
        assert load_config(SolveConfig, None, [f"checkpoint={unset}"]).checkpoint is None
