"""Tests for arc_trm.model.checkpoint: official key/config mapping, importer errors, identifiers, our save/load."""

from __future__ import annotations

import json

import pytest
import torch

from arc_trm.data.augment import Aug
from arc_trm.model import HRM, TRM, TRMConfig
from arc_trm.model.checkpoint import (
    CheckpointError,
    config_from_official,
    import_official_state_dict,
    load_checkpoint,
    load_official,
    load_weights,
    meta_path,
    official_name,
    parse_identifiers,
    save_checkpoint,
)

TINY = dict(
    hidden_size=32, num_heads=4, expansion=2.0, num_layers=1, T=1, n=1, N_sup=2, puzzle_emb_dim=32, num_puzzle_ids=4
)


def official_state(model: TRM, prefix: str = "_orig_mod.model.inner.") -> dict[str, torch.Tensor]:
    return {prefix + official_name(k): v.clone() for k, v in model.state_dict().items()}


def test_official_names():
    assert official_name("net.layers.1.attn.qkv_proj.weight") == "L_level.layers.1.self_attn.qkv_proj.weight"
    assert official_name("net.layers.0.token_mlp.down_proj.weight") == "L_level.layers.0.mlp_t.down_proj.weight"
    assert official_name("H_net.layers.0.mlp.gate_up_proj.weight") == "H_level.layers.0.mlp.gate_up_proj.weight"
    assert official_name("L_net.layers.0.mlp.gate_up_proj.weight") == "L_level.layers.0.mlp.gate_up_proj.weight"
    assert official_name("embed_tokens.weight") == "embed_tokens.embedding_weight"
    assert official_name("puzzle_emb.weight") == "puzzle_emb.weights"
    assert (official_name("y_init"), official_name("z_init")) == ("H_init", "L_init")


def test_official_configs_map_to_ours(reference_dir):
    configs = {
        name: json.loads((reference_dir / name / "config.json").read_text())
        for name in ("official_att", "official_mlp", "official_hrm")
    }
    att = config_from_official(configs["official_att"]["official_config"], "att")
    assert (att.T, att.n, att.N_sup, att.num_layers, att.mixer, att.prefix_len) == (3, 4, 16, 2, "attention", 16)
    assert (att.seq_len, att.num_puzzle_ids, att.puzzle_emb_dim, att.act_continue) == (900, 9, 64, False)
    official_name_of_trm = "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"
    mlp = config_from_official(configs["official_mlp"]["official_config"], official_name_of_trm)
    assert (mlp.mixer, mlp.pos_encodings, mlp.N_sup, mlp.seq_len) == ("mlp", "none", 2, 100)
    hrm = config_from_official(configs["official_hrm"]["official_config"], "hrm")
    assert (hrm.H_layers, hrm.num_layers, hrm.T, hrm.n, hrm.prefix_len, hrm.act_continue) == (2, 2, 2, 2, 1, True)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        config_from_official(configs["official_att"]["official_config"], "transformer")
    with pytest.raises(CheckpointError, match="lacks H_cycles"):
        without_t = {k: v for k, v in configs["official_att"]["official_config"].items() if k != "H_cycles"}
        config_from_official(without_t, "trm")


def test_import_with_or_without_orig_mod_prefix():
    torch.manual_seed(0)
    source = TRM(TRMConfig(**TINY))
    for prefix in ("_orig_mod.model.inner.", "model.inner.", ""):
        torch.manual_seed(1)
        target = TRM(TRMConfig(**TINY))
        import_official_state_dict(target, official_state(source, prefix))
        assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values()))


def test_importer_errors_are_clear():
    torch.manual_seed(0)
    model = TRM(TRMConfig(**TINY))
    state = official_state(model)
    missing = {k: v for k, v in state.items() if not k.endswith("lm_head.weight")}
    with pytest.raises(CheckpointError, match="missing key 'lm_head.weight'"):
        import_official_state_dict(model, missing)
    bad = dict(state, **{"_orig_mod.model.inner.lm_head.weight": torch.zeros(12, 16)})
    message = r"shape mismatch for 'lm_head.weight': checkpoint \(12, 16\), model \(12, 32\)"
    with pytest.raises(CheckpointError, match=message):
        import_official_state_dict(model, bad)
    extra = dict(state, **{"_orig_mod.model.inner.H_level.layers.0.mlp.down_proj.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="unexpected key 'H_level"):
        import_official_state_dict(model, extra)
    with pytest.raises(CheckpointError, match="missing key 'H_level"):  # an official TRM into our HRM
        import_official_state_dict(_hrm(), state)


def _hrm() -> HRM:
    from arc_trm.model import HRMConfig

    return HRM(HRMConfig(**{**TINY, "H_layers": 1}))


def test_puzzle_table_of_another_size_can_become_its_mean():
    torch.manual_seed(0)
    model = TRM(TRMConfig(**TINY))
    state = official_state(model)
    state["_orig_mod.model.inner.puzzle_emb.weights"] = torch.arange(6.0).repeat_interleave(32).view(6, 32)
    with pytest.raises(CheckpointError, match="puzzle_emb.weights"):
        import_official_state_dict(model, state)
    import_official_state_dict(model, state, puzzle_rows="mean")
    assert torch.equal(model.puzzle_emb.weight, torch.full((4, 32), 2.5))


def test_load_official_fixture_and_identifiers(reference_dir, tmp_path):
    official = load_official(reference_dir / "official_mlp" / "checkpoint.pt")
    assert official.arch == "trm" and official.model.config.mixer == "mlp"
    assert sorted(official.puzzles) == [1, 2, 3, 4]  # <blank> and <unused> skipped
    task_id, aug = official.puzzles[2]
    assert task_id == "34b99a2b" and aug == Aug(5, (0, 3, 6, 7, 5, 1, 4, 2, 8, 9))
    assert official.puzzles[1] == ("34b99a2b", Aug())
    raw = torch.load(reference_dir / "official_mlp" / "checkpoint.pt", weights_only=True)
    assert torch.equal(official.model.puzzle_emb.weight, raw["_orig_mod.model.inner.puzzle_emb.weights"])
    with pytest.raises(CheckpointError, match=r"identifiers\[1\]"):
        parse_identifiers(["<blank>", "abc|||t9|||0123456789"])
    with pytest.raises(CheckpointError, match="unknown architecture 'gpt'"):
        load_official(reference_dir / "official_mlp" / "checkpoint.pt", arch="gpt")


def test_load_weights_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_weights(tmp_path / "absent.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_weights(tmp_path / "corrupt.pt")


def test_save_and_load_our_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = TRM(TRMConfig(**{**TINY, "pos_encodings": "learned"}))
    model.puzzle_emb.weight.normal_()
    path = save_checkpoint(tmp_path / "run" / "model.pt", model, provenance={"step": 7, "source": "test"})
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json", "model.pt"]  # no temporary files left
    meta = json.loads(meta_path(path).read_text())
    assert meta["arch"] == "trm" and meta["config"]["pos_encodings"] == "learned" and meta["provenance"]["step"] == 7
    loaded, meta2 = load_checkpoint(path)
    assert meta2 == meta and loaded.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))

    hrm_path = save_checkpoint(tmp_path / "hrm.pt", _hrm())
    assert isinstance(load_checkpoint(hrm_path)[0], HRM)
    meta_path(path).unlink()
    with pytest.raises(CheckpointError, match="missing its metadata"):
        load_checkpoint(path)


def test_load_official_run_folder_with_all_config_yaml(reference_dir, tmp_path):
    import yaml

    fixture = reference_dir / "official_mlp"
    official = json.loads((fixture / "config.json").read_text())["official_config"]
    arch = {k: v for k, v in official.items() if k not in ("seq_len", "vocab_size", "num_puzzle_identifiers")}
    arch.update(
        name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
        loss={"name": "losses@ACTLossHead", "loss_type": "softmax_cross_entropy"},
    )
    (tmp_path / "all_config.yaml").write_text(yaml.safe_dump({"arch": arch, "lr": 1e-4}))
    (tmp_path / "step_10").write_bytes((fixture / "checkpoint.pt").read_bytes())
    loaded = load_official(tmp_path / "step_10")
    assert loaded.arch == "trm" and loaded.loss_type == "softmax_cross_entropy"
    config = loaded.model.config
    assert (config.seq_len, config.vocab_size, config.num_puzzle_ids, config.mixer) == (100, 12, 9, "mlp")
    (tmp_path / "all_config.yaml").unlink()
    with pytest.raises(CheckpointError, match="pass official_config"):
        load_official(tmp_path / "step_10")
