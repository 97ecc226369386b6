"""`arc-trm reproduce` against the official code's own evaluation of its own checkpoints (fixtures made by the
official pretrain.py and evaluators/arc.py), and every bad input it must refuse with one clear line."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from arc_trm.core import tasks
from arc_trm.core.config import load_config
from arc_trm.data.dataset import PAPER_BUILDS, DataConfig, PretrainData, read_build
from arc_trm.eval.reproduce import PASS_KS
from arc_trm.model import checkpoint
from arc_trm.train.pretrain import TrainConfig
from arc_trm_cli.app import app

REPO = Path(__file__).resolve().parents[1]
RUN = "checkpoints/official-eval-fixture/trm-h64-seed11"  # the official run folder inside the shared fixture
runner = CliRunner()


def cli(*args):
    return runner.invoke(
        app, ["reproduce", *map(str, args), "-q", "--device", "cpu"], env={"COLUMNS": "400", "NO_COLOR": "1"}
    )


@pytest.fixture(scope="module")
def fixture(shared_dir) -> Path:
    return shared_dir / "reference" / "official_eval"


SEED5 = REPO / "tests" / "fixtures" / "official_eval_seed5"  # made on this project's machine kind (its README)
SEED5_CPU = "AVX512"  # torch.backends.cpu.get_cpu_capability() where it was made


def run_fixture(folder: Path, seed: int, subfolder: str, out: Path) -> Path:
    step = folder / f"checkpoints/official-eval-fixture/trm-h64-seed{seed}" / subfolder / "step_300"
    done = cli(step, "--data", folder / "data.yaml", "--out", out)
    assert done.exit_code == 0, done.output
    return out


@pytest.fixture(scope="module")
def float32_run(fixture, tmp_path_factory) -> Path:
    return run_fixture(fixture, 11, "", tmp_path_factory.mktemp("reproduce") / "run")


def official_rows(path: Path) -> dict[str, np.ndarray]:
    """The official evaluation's saved rows without its padding rows (puzzle id 0)."""
    rows = dict(np.load(path))
    real = rows["puzzle_identifiers"] != 0
    return {k: v[real] for k, v in rows.items() if len(v) == len(real)}


def assert_official(run: Path, folder: Path, q_atol: float) -> None:
    """The official evaluation's outputs in `folder` (eval_rows.npz, submission.json, metrics.json): the same
    rows in the same order, identical predictions, submission and pass@1..1000, q-halt logits within q_atol."""
    ours, theirs = np.load(run / "rows.npz"), official_rows(folder / "eval_rows.npz")
    assert np.array_equal(ours["puzzle_ids"], theirs["puzzle_identifiers"])
    assert np.array_equal(ours["preds"], theirs["preds"])
    np.testing.assert_allclose(ours["q_halt_logits"], theirs["q_halt_logits"], rtol=0, atol=q_atol)
    assert json.loads((run / "submission.json").read_text()) == json.loads((folder / "submission.json").read_text())
    scores, official = json.loads((run / "scores.json").read_text()), json.loads((folder / "metrics.json").read_text())
    assert {k: scores[f"ARC/pass@{k}"] for k in PASS_KS} == {k: official["eval"][f"ARC/pass@{k}"] for k in PASS_KS}


@pytest.mark.slow
def test_float32_equals_the_official_evaluation(fixture, float32_run):
    """The shared fixture (float32). Its q-halt logits were computed on another CPU, whose float32 sums round
    differently in the last bits (the official code rerun here differs from them as much, and equals ours
    exactly: docs/reproduce.md), so they are held to 1e-5."""
    assert_official(float32_run, fixture, q_atol=1e-5)
    scores = json.loads((float32_run / "scores.json").read_text())
    assert scores["forward_dtype"] == "float32" and scores["rows"] == 54


@pytest.mark.slow
def test_bfloat16_equals_the_official_evaluation(fixture, tmp_path):
    """The shared fixture's bf16 folder: the same float32 checkpoint under forward_dtype bfloat16. The official
    loader keeps the stored float32 init states, so the carries stay float32 and the embeddings are rounded
    to bf16 (37 of 64 rows differ from the float32 evaluation): ours the same."""
    run = run_fixture(fixture, 11, "bf16", tmp_path / "run")
    assert_official(run, fixture / "bf16", q_atol=1e-5)
    assert json.loads((run / "scores.json").read_text())["forward_dtype"] == "bfloat16"


@pytest.mark.slow
@pytest.mark.parametrize("subfolder", ["", "bf16"])
def test_a_fixture_with_solved_tasks_is_reproduced_exactly(subfolder, tmp_path):
    """A fixture whose easy tasks a short official run solves (pass@K 0.125: the evaluator's right-answer
    branch), made on this machine kind: identical to the last bit on a CPU of the same kind."""
    run = run_fixture(SEED5, 5, subfolder, tmp_path / "run")
    same_cpu = torch.backends.cpu.get_cpu_capability() == SEED5_CPU
    assert_official(run, SEED5 / subfolder, q_atol=0 if same_cpu else 1e-5)
    assert json.loads((run / "scores.json").read_text())["ARC/pass@1"] == 0.125


def test_the_run_folder_holds_identifiers_and_a_report(fixture, float32_run):
    assert json.loads((float32_run / "identifiers.json").read_text()) == json.loads(
        (fixture / "data" / "identifiers.json").read_text()
    )
    page = (float32_run / "report.html").read_text()
    assert all(task_id in page for task_id in json.loads((fixture / "challenges.json").read_text()))


def test_the_stored_init_states_decide_the_carries_dtype_as_the_official_loader(fixture, tmp_path):
    """forward_dtype comes from all_config.yaml. The official loader assigns the stored tensors: a run trained
    in bf16 stores bf16 init states (H_init, L_init), and y and z are carried in bf16; the shared fixture's
    float32 init states under forward_dtype bfloat16 keep float32 carries."""
    batch = {"inputs": torch.full((2, 900), 2), "puzzle_ids": torch.tensor([1, 2])}

    def carried(step: Path) -> torch.dtype:
        model = checkpoint.load_official(step).model.eval()
        assert model.config.forward_dtype == "bfloat16" and model.config.cuda_dtype == "float32"
        carry, outputs = model(model.initial_carry(batch), batch)
        assert carry.y.dtype == carry.z.dtype and outputs["q_halt_logits"].dtype == torch.float32
        return carry.y.dtype

    assert carried(fixture / RUN / "bf16" / "step_300") == torch.float32
    folder = tmp_path / "bf16-trained"
    folder.mkdir()
    shutil.copy(fixture / RUN / "bf16" / "all_config.yaml", folder)
    state = torch.load(fixture / RUN / "step_300", weights_only=True)
    for name in ("H_init", "L_init"):
        key = f"_orig_mod.model.inner.{name}"
        state[key] = state[key].bfloat16()
    torch.save(state, folder / "step_300")
    assert carried(folder / "step_300") == torch.bfloat16


def test_an_official_config_without_forward_dtype_takes_the_official_default():
    arch = {
        "vocab_size": 12,
        "seq_len": 900,
        "hidden_size": 64,
        "num_heads": 2,
        "expansion": 4,
        "L_layers": 2,
        "H_cycles": 2,
        "L_cycles": 2,
        "halt_max_steps": 4,
        "pos_encodings": "rope",
    }
    assert checkpoint.config_from_official(arch, "trm").forward_dtype == "bfloat16"


# ---------------------------------------------------------------------------------------------- bad input


def copy_run(fixture: Path, tmp_path: Path) -> Path:
    """A copy of the official run folder's step file and all_config.yaml, to break."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("step_300", "all_config.yaml"):
        shutil.copy(fixture / RUN / name, folder / name)
    return folder


def refused(done, *words: str) -> None:
    assert done.exit_code == 2, done.output
    line = " ".join(done.output.split())
    assert line.startswith("error:") and all(w in line for w in words), line


def test_a_table_of_another_build_is_an_error_naming_both_counts(fixture, tmp_path):
    build = yaml.safe_load((fixture / "data.yaml").read_text())
    shutil.copytree(fixture / "build_input", tmp_path / "build_input")
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({**build, "num_aug": 7}))
    fewer = PretrainData.build(read_build(tmp_path / "data.yaml")).num_puzzle_ids
    refused(
        cli(fixture / RUN / "step_300", "--data", tmp_path / "data.yaml", "--out", tmp_path / "out"),
        "91 rows",
        f"{fewer} identifiers",
        "seed or augmentation count",
    )


def test_identifiers_beside_the_checkpoint_must_be_the_rebuilt_ones(fixture, tmp_path):
    folder = copy_run(fixture, tmp_path)
    names = json.loads((fixture / "data" / "identifiers.json").read_text())
    names[5], names[6] = names[6], names[5]
    (folder / "identifiers.json").write_text(json.dumps(names))
    refused(
        cli(folder / "step_300", "--data", fixture / "data.yaml", "--out", tmp_path / "out"),
        "identifiers.json",
        "first differ at id 5",
    )


def test_a_step_file_without_all_config_is_refused(fixture, tmp_path):
    folder = copy_run(fixture, tmp_path)
    (folder / "all_config.yaml").unlink()
    refused(
        cli(folder / "step_300", "--data", fixture / "data.yaml", "--out", tmp_path / "out"),
        str(folder / "step_300"),
        "no all_config.yaml",
    )


def test_an_unknown_arch_name_is_refused(fixture, tmp_path):
    folder = copy_run(fixture, tmp_path)
    config = yaml.safe_load((folder / "all_config.yaml").read_text())
    config["arch"]["name"] = "recursive_reasoning.xyz@Unknown"
    (folder / "all_config.yaml").write_text(yaml.safe_dump(config))
    refused(
        cli(folder / "step_300", "--data", fixture / "data.yaml", "--out", tmp_path / "out"),
        str(folder / "step_300"),
        "unknown architecture",
        "xyz@Unknown",
    )


def test_a_truncated_step_file_is_refused(fixture, tmp_path):
    folder = copy_run(fixture, tmp_path)
    data = (folder / "step_300").read_bytes()
    (folder / "step_300").write_bytes(data[: len(data) // 2])
    refused(
        cli(folder / "step_300", "--data", fixture / "data.yaml", "--out", tmp_path / "out"),
        str(folder / "step_300"),
        "cannot read",
    )


def test_a_tensor_of_the_wrong_shape_is_refused(fixture, tmp_path):
    folder = copy_run(fixture, tmp_path)
    state = torch.load(folder / "step_300", weights_only=True)
    key = "_orig_mod.model.inner.lm_head.weight"
    state[key] = state[key][:, :32].clone()
    torch.save(state, folder / "step_300")
    refused(
        cli(folder / "step_300", "--data", fixture / "data.yaml", "--out", tmp_path / "out"),
        "shape mismatch",
        "lm_head.weight",
    )


def test_bad_data_settings_are_refused(fixture, tmp_path):
    step = fixture / RUN / "step_300"
    refused(cli(step, "--data", "arc3", "--out", tmp_path / "out"), "arc3", "arc1 or arc2")
    (tmp_path / "typo.yaml").write_text("input_file_prefix: build_input/arc-agi\nnum_augs: 8\n")
    refused(cli(step, "--data", tmp_path / "typo.yaml", "--out", tmp_path / "out"), "unknown build settings num_augs")
    (tmp_path / "missing.yaml").write_text(
        "input_file_prefix: nowhere/arc-agi\nsubsets: [training]\ntest_set_name: training\n"
    )
    refused(cli(step, "--data", tmp_path / "missing.yaml", "--out", tmp_path / "out"), "subset 'training'", "no file")


def test_a_challenges_file_without_its_solutions_is_refused(fixture, tmp_path):
    shutil.copytree(fixture / "build_input", tmp_path / "build_input")
    (tmp_path / "build_input" / "arc-agi_training_solutions.json").unlink()
    shutil.copy(fixture / "data.yaml", tmp_path / "data.yaml")
    refused(
        cli(fixture / RUN / "step_300", "--data", tmp_path / "data.yaml", "--out", tmp_path / "out"),
        "no solutions file beside",
        "arc-agi_training_challenges.json",
    )


def test_unknown_ids_are_refused(fixture, tmp_path):
    refused(
        cli(
            fixture / RUN / "step_300",
            "--data",
            fixture / "data.yaml",
            "--out",
            tmp_path / "out",
            "--ids",
            "8e2edd66,00000000",
        ),
        "00000000",
        "not among the 6 held-out tasks",
    )


# ---------------------------------------------------------------------------------------------- data


def test_the_paper_builds_are_the_recipes_data():
    for name in PAPER_BUILDS:
        assert load_config(TrainConfig, REPO / "configs" / f"{name}.yaml").data == PAPER_BUILDS[name]


def test_a_challenges_file_is_paired_with_the_solutions_beside_it(fixture):
    taskset = tasks.load(fixture / "build_input" / "arc-agi_evaluation_challenges.json")
    truths = json.loads((fixture / "solutions.json").read_text())
    assert len(taskset) == 6 and all([g.tolist() for g in t.test_outputs] == truths[t.id] for t in taskset)


def test_a_build_never_drops_test_pairs_without_outputs(fixture, tmp_path):
    shutil.copy(fixture / "challenges.json", tmp_path / "evaluation.json")  # no solutions beside it
    with pytest.raises(ValueError, match="without their test outputs"):
        PretrainData.build(
            DataConfig(
                subsets=[str(tmp_path / "evaluation.json")], test=str(tmp_path / "evaluation.json"), augmentations=1
            )
        )


@pytest.mark.slow
def test_a_checkpoint_of_ours_is_evaluated_on_its_own_runs_data(tmp_path):
    from arc_trm.train.pretrain import train

    cfg = load_config(TrainConfig, REPO / "configs" / "debug.yaml", ["steps=2", "eval_every=2"])
    train(cfg, tmp_path / "train")
    done = cli(tmp_path / "train" / "checkpoints" / "step_2.pt", "--out", tmp_path / "out")
    assert done.exit_code == 0, done.output
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    evaluated = json.loads((tmp_path / "train" / "evals" / "step_2" / "submission.json").read_text())
    assert scores["checkpoint_kind"] == "arc-trm" and scores["n_tasks"] == len(evaluated) == cfg.data.eval_tasks
    assert set(json.loads((tmp_path / "out" / "submission.json").read_text())) == set(evaluated)
    data = PretrainData.build(cfg.data)  # the run's own build: its first eval_tasks, eval_versions versions each
    expected = sum(
        min(cfg.data.eval_versions, data.version_start[g + 1] - data.version_start[g]) * len(data.groups[g].held_out)
        for g in data.eval_groups()
    )
    assert len(np.load(tmp_path / "out" / "rows.npz")["preds"]) == scores["rows"] == expected


def test_an_official_step_file_needs_data(fixture, tmp_path):
    refused(cli(fixture / RUN / "step_300", "--out", tmp_path / "out"), "give --data")
