"""Parity with the official implementation on the three reference fixtures, and the `arc-trm parity` command."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from arc_trm.model import parity
from arc_trm.model.parity import Check, ParityReport, compare, run_parity
from arc_trm_cli.app import app


@pytest.fixture(scope="module")
def mlp_report(reference_dir) -> ParityReport:
    return run_parity(reference_dir / "official_mlp")


def expected_keys(fixture) -> dict[str, np.ndarray]:
    return {**np.load(fixture / "expected.npz"), **np.load(fixture / "grads_step1.npz")}


def assert_passes(report: ParityReport):
    failed = [c for c in report.checks if not c.ok]
    assert not failed, "\n".join(f"{c.key}: {c.diff:.3g} > {c.tolerance:.3g} {c.detail}" for c in failed)


def test_official_mlp_parity(mlp_report):
    assert_passes(mlp_report)
    assert len(mlp_report.checks) == 9 + len(np.load(mlp_report.fixture / "grads_step1.npz").files)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["official_att", "official_hrm"])
def test_official_parity(reference_dir, name):
    report = run_parity(reference_dir / name)
    assert report.arch == ("hrm" if name == "official_hrm" else "trm")
    assert_passes(report)


def test_compare_catches_a_difference(mlp_report, reference_dir):
    fixture = reference_dir / "official_mlp"
    expected, grads = dict(np.load(fixture / "expected.npz")), dict(np.load(fixture / "grads_step1.npz"))
    ours = {k: v.copy() for k, v in mlp_report.outputs.items()}
    ours["logits_step1"][0, 0, 0] += 0.01
    ours["preds"][1, 0, :5] = (ours["preds"][1, 0, :5] + 1) % 12
    ours["train_loss_step1"] = ours["train_loss_step1"] * (1 + 1e-4)
    ours["model.inner.lm_head.weight"] = ours["model.inner.lm_head.weight"] * 1.01
    del ours["puzzle_emb.local_weights"]
    failed = {c.key for c in compare(ours, expected, grads, {}) if not c.ok}
    assert failed == {
        "logits_step1",
        "preds",
        "train_loss_step1",
        "model.inner.lm_head.weight",
        "puzzle_emb.local_weights",
    }


def test_cli_passes_and_dumps_under_the_fixture_keys(reference_dir, tmp_path):
    fixture = reference_dir / "official_mlp"
    result = CliRunner().invoke(app, ["parity", str(fixture), "--out", str(tmp_path / "ours.npz")])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "logits_last" in result.output
    quiet = CliRunner().invoke(app, ["parity", str(fixture), "-q"])
    assert quiet.exit_code == 0 and "PASS" in quiet.output and "logits_last" not in quiet.output  # no table
    dumped, reference = np.load(tmp_path / "ours.npz"), expected_keys(fixture)
    assert sorted(dumped.files) == sorted(reference)
    for key, value in reference.items():
        assert dumped[key].shape == value.shape and dumped[key].dtype == value.dtype, key


def test_cli_exit_codes(mlp_report, tmp_path, monkeypatch):
    failing = ParityReport(mlp_report.fixture, "trm", [Check("logits_last", "abs", 1.0, 1e-4)], {})
    monkeypatch.setattr(parity, "run_parity", lambda *args: failing)  # the command imports it when it runs
    result = CliRunner().invoke(app, ["parity", str(tmp_path)])
    assert result.exit_code == 1 and "FAIL" in result.output
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["parity", str(tmp_path)])
    assert result.exit_code == 2 and "not a parity fixture" in result.output
