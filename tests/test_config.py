"""Typed configs from YAML with dot-list overrides; errors that name the file and the key."""

import pytest
import yaml
from conftest import REPO

from arc_trm.core.config import ConfigError, load_config, save_config, to_dict
from arc_trm.solve.config import SolveConfig


def test_cpu_default_loads_and_round_trips(tmp_path):
    cfg = load_config(SolveConfig, REPO / "configs" / "cpu.yaml")
    assert cfg.model.hidden_size == yaml.safe_load((REPO / "configs" / "cpu.yaml").read_text())["model"]["hidden_size"]
    path = save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(SolveConfig, path) == cfg
    assert isinstance(to_dict(cfg)["ttt"]["betas"], list)


def test_dataclass_defaults_are_the_cpu_default():
    assert SolveConfig() == load_config(SolveConfig, REPO / "configs" / "cpu.yaml")


def test_cli_without_the_checkout_yaml_uses_the_same_defaults(monkeypatch, tmp_path):
    import arc_trm_cli.solve as cli_solve

    assert cli_solve.solve_config(None, ["ttt.lr=0.01"], None).ttt.lr == 0.01
    import arc_trm_cli.options as options

    monkeypatch.setattr(options, "REPO", tmp_path)  # no configs/ beside the package: as in a wheel install
    assert cli_solve.solve_config(None, None, None) == load_config(SolveConfig, REPO / "configs" / "cpu.yaml")


def test_overrides_parse_values_as_yaml(tmp_path):
    cfg = load_config(
        SolveConfig, None, ["ttt.lr=3e-4", "model.T=3", "ttt.betas=[0.8, 0.9]", "device=cpu", "ttt.ema=0"]
    )
    assert cfg.ttt.lr == 3e-4 and cfg.model.T == 3 and cfg.ttt.betas == (0.8, 0.9) and cfg.device == "cpu"
    assert isinstance(cfg.ttt.ema, float)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["ttt.lrr=1"], "unknown key.*lrr"),
        (["model.T=three"], "model.T: expected int"),
        (["seed"], "expected key=value"),
        (["ttt.batch_size=true"], "expected int"),
        (["model.hidden_size.x=1"], "not a section"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(SolveConfig, None, overrides)


def test_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml.*not valid YAML"):
        load_config(SolveConfig, bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("ttt:\n  versions: many\n")
    with pytest.raises(ConfigError, match="wrong.yaml.*ttt.versions: expected int"):
        load_config(SolveConfig, wrong)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(SolveConfig, tmp_path / "missing.yaml")
