"""Checkpoints: import of official TRM/HRM checkpoints, and save/load of our own.

Official checkpoints are `torch.save(state_dict)` files whose keys carry `_orig_mod.model.inner.` (the prefix
of torch.compile and the loss head); the config is the official arch dict (names as in the official code) and
puzzle identifiers are the official identifiers.json list (index = puzzle id, names `taskid|||t<k>|||<colours>`).

Our checkpoints are a weights file (a state dict, loadable with weights_only=True) plus a JSON file beside it
(same name, suffix .json) with the architecture, the config and provenance. Both are written atomically.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import arc_trm
from arc_trm.core.io import atomic_open, write_json
from arc_trm.model import ARCHS, TRM, TRMConfig, build_model

FORMAT = "arc-trm-checkpoint/1"

# Architecture names accepted from official configs and fixtures.
ARCH_ALIASES = {
    "trm": "trm",
    "hrm": "hrm",
    "att": "trm",  # fixture labels
    "mlp": "trm",
    "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1": "trm",
    "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1": "hrm",
    "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1": "hrm",  # sapientinc/HRM
}

# Our state-dict names -> official ones: whole keys first, then single dotted components.
_OFFICIAL_KEYS = {
    "embed_tokens.weight": "embed_tokens.embedding_weight",
    "embed_pos.weight": "embed_pos.embedding_weight",
    "puzzle_emb.weight": "puzzle_emb.weights",
    "y_init": "H_init",
    "z_init": "L_init",
}
_OFFICIAL_PARTS = {"net": "L_level", "L_net": "L_level", "H_net": "H_level", "attn": "self_attn", "token_mlp": "mlp_t"}
_OFFICIAL_PREFIXES = ("_orig_mod.", "model.", "inner.")

# Official config fields -> ours (the rest are handled in config_from_official).
_CONFIG_FIELDS = {
    "vocab_size": "vocab_size",
    "seq_len": "seq_len",
    "num_puzzle_identifiers": "num_puzzle_ids",
    "puzzle_emb_ndim": "puzzle_emb_dim",
    "puzzle_emb_len": "puzzle_emb_len",
    "hidden_size": "hidden_size",
    "num_heads": "num_heads",
    "expansion": "expansion",
    "L_layers": "num_layers",
    "H_layers": "H_layers",
    "H_cycles": "T",
    "L_cycles": "n",
    "halt_max_steps": "N_sup",
    "halt_exploration_prob": "halt_exploration_prob",
    "pos_encodings": "pos_encodings",
    "rms_norm_eps": "rms_norm_eps",
    "rope_theta": "rope_theta",
    "forward_dtype": "forward_dtype",
}
_CONFIG_IGNORED = {"name", "loss", "batch_size", "causal", "mlp_t", "no_ACT_continue"}
_CONFIG_REQUIRED = (
    "vocab_size",
    "seq_len",
    "hidden_size",
    "num_heads",
    "expansion",
    "L_layers",
    "H_cycles",
    "L_cycles",
    "halt_max_steps",
    "pos_encodings",
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: the message names the file, the key and what is wrong."""


def resolve_arch(name: str) -> str:
    """Our architecture name ("trm" or "hrm") for an official or fixture name."""
    if name not in ARCH_ALIASES:
        raise CheckpointError(f"unknown architecture {name!r}; known: {', '.join(ARCH_ALIASES)}")
    return ARCH_ALIASES[name]


def official_name(key: str) -> str:
    """The official state-dict name (without `_orig_mod.model.inner.`) of one of our state-dict keys."""
    if key in _OFFICIAL_KEYS:
        return _OFFICIAL_KEYS[key]
    return ".".join(_OFFICIAL_PARTS.get(part, part) for part in key.split("."))


def copy_to_official(model: TRM, official_inner: torch.nn.Module) -> None:
    """Our weights into an official model's inner module (the official code's own class: the benchmarks run it
    on our weights), each converted to the dtype it has there."""
    targets = official_inner.state_dict()
    with torch.no_grad():
        for key, value in model.state_dict().items():
            targets[official_name(key)].copy_(value)


def strip_official_prefix(key: str) -> str:
    """`_orig_mod.model.inner.L_level...` (any of the three prefixes present or not) -> `L_level...`."""
    for prefix in _OFFICIAL_PREFIXES:
        key = key.removeprefix(prefix)
    return key


def config_from_official(official: dict[str, Any], arch: str) -> TRMConfig:
    """Our config from the official arch config dict (names as in the official code)."""
    arch = resolve_arch(arch)
    missing = [k for k in _CONFIG_REQUIRED if k not in official]
    if missing:
        raise CheckpointError(f"official config lacks {', '.join(missing)}")
    unknown = sorted(set(official) - set(_CONFIG_FIELDS) - _CONFIG_IGNORED)
    if unknown:
        warnings.warn(f"ignoring unknown official config fields: {', '.join(unknown)}", stacklevel=2)
    config_class = ARCHS[arch][1]
    ours = {_CONFIG_FIELDS[k]: v for k, v in official.items() if k in _CONFIG_FIELDS}
    ours.setdefault("puzzle_emb_dim", 0)
    ours.setdefault("num_puzzle_ids", 1)
    ours["mixer"] = "mlp" if official.get("mlp_t", False) else "attention"
    if arch == "hrm":
        ours.pop("puzzle_emb_len", None)  # HRM has no such field: always ceil(puzzle_emb_dim / hidden_size)
        ours["act_continue"] = True
    else:
        ours.pop("H_layers", None)  # ignored by TRM
        ours["act_continue"] = not official.get("no_ACT_continue", True)
    ours["expansion"] = float(ours["expansion"])
    ours.setdefault("forward_dtype", "bfloat16")  # the official config class's default
    ours["cuda_dtype"] = "float32"  # no autocast: an official model computes in its own forward_dtype everywhere
    return config_class(**ours)


# ---------------------------------------------------------------------------------------------- weights


def load_weights(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A state dict read with weights_only=True; CheckpointError if the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a corrupt file or one holding more than tensors
        raise CheckpointError(f"{path}: cannot read as a weights-only state dict ({error})") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return state


def _check_and_load(model: TRM, state: dict[str, torch.Tensor], name_of, where: str, puzzle_rows: str) -> None:
    """Copy `state` (looked up through name_of(our key)) into model; one error listing every problem."""
    ours, used, problems = {}, set(), []
    for key, target in model.state_dict().items():
        name = name_of(key)
        if name not in state:
            problems.append(f"missing key {name!r}")
            continue
        used.add(name)
        value = state[name]
        other_rows = value.ndim == 2 and value.shape[1:] == target.shape[1:] and value.shape[0] != target.shape[0]
        if key == "puzzle_emb.weight" and other_rows and puzzle_rows == "mean":
            value = value.mean(0, keepdim=True).expand_as(target)  # official load_checkpoint: every row = mean
        if value.shape != target.shape:
            problems.append(
                f"shape mismatch for {name!r}: checkpoint {tuple(value.shape)}, model {tuple(target.shape)}"
            )
            continue
        ours[key] = value
    problems += [f"unexpected key {name!r} (a different architecture or config?)" for name in state if name not in used]
    if problems:
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise CheckpointError(f"{where} does not fit the {model.arch} model:\n  {shown}")
    model.load_state_dict(ours)


def import_official_state_dict(
    model: TRM, state: dict[str, torch.Tensor], where: str = "checkpoint", puzzle_rows: str = "strict"
) -> None:
    """Load an official state dict (with or without `_orig_mod.model.inner.`) into our model.

    puzzle_rows="mean" accepts a puzzle-embedding table of another row count and sets every row to its mean
    (what the official loader does); "strict" reports it as a shape mismatch.
    """
    stripped = {strip_official_prefix(k): v for k, v in state.items()}
    _check_and_load(model, stripped, official_name, where, puzzle_rows)
    for key in ("y_init", "z_init"):  # the official loader assigns (assign=True): the stored dtype is kept
        stored = stripped[official_name(key)]
        if stored.dtype != getattr(model, key).dtype:
            setattr(model, key, stored.detach().clone())


# ---------------------------------------------------------------------------------------- puzzle names


def parse_identifiers(names: list[str]) -> dict[int, tuple[str, Any]]:
    """Puzzle id -> (task_id, Aug) from an official identifiers.json list; `<blank>`/`<unused>` are skipped."""
    from arc_trm.data.augment import parse_name

    table = {}
    for index, name in enumerate(names):
        if name in ("<blank>", "<unused>"):
            continue
        try:
            table[index] = parse_name(name)
        except ValueError as error:
            raise CheckpointError(f"identifiers[{index}]: {error}") from None
    return table


@dataclass
class OfficialModel:
    model: TRM
    arch: str
    official_config: dict[str, Any]
    loss_type: str = "stablemax_cross_entropy"
    identifiers: list[str] = field(default_factory=list)  # the official names, index = puzzle id
    puzzles: dict[int, tuple[str, Any]] = field(default_factory=dict)  # puzzle id -> (task_id, Aug)


def official_config_from_yaml(path: str | Path, state: dict[str, torch.Tensor]) -> tuple[dict[str, Any], str, str]:
    """(arch config, arch name, loss type) from an official run's all_config.yaml; the fields that the official
    code takes from the dataset (vocab_size, num_puzzle_identifiers, seq_len) are read off the weights, seq_len
    defaulting to ARC's 900 where the weights do not tell (RoPE or no positions, attention mixer)."""
    import yaml

    arch = dict(yaml.safe_load(Path(path).read_text())["arch"])
    shapes = {strip_official_prefix(k): v.shape for k, v in state.items()}
    prefix = arch.get("puzzle_emb_len") or -(-arch.get("puzzle_emb_ndim", 0) // arch["hidden_size"])
    arch.setdefault("vocab_size", shapes["embed_tokens.embedding_weight"][0])
    arch.setdefault("num_puzzle_identifiers", shapes.get("puzzle_emb.weights", (1,))[0])
    if "embed_pos.embedding_weight" in shapes:
        arch.setdefault("seq_len", shapes["embed_pos.embedding_weight"][0] - prefix)
    elif "L_level.layers.0.mlp_t.down_proj.weight" in shapes:
        arch.setdefault("seq_len", shapes["L_level.layers.0.mlp_t.down_proj.weight"][0] - prefix)
    arch.setdefault("seq_len", 900)
    return arch, arch["name"], arch.get("loss", {}).get("loss_type", "stablemax_cross_entropy")


def load_official(
    path: str | Path,
    official_config: dict[str, Any] | None = None,
    arch: str | None = None,
    identifiers: list[str] | str | Path | None = None,
    map_location: str | torch.device = "cpu",
    puzzle_rows: str = "strict",
) -> OfficialModel:
    """Build our model from an official checkpoint file.

    Without `official_config`, it comes from a fixture's config.json beside the file (with arch, loss type and
    identifiers), or else from the official run's all_config.yaml beside it. `arch` is "trm"/"hrm" or the
    official arch name; without it, it is read from the weights (H_level: HRM). `identifiers` is the official
    identifiers.json list or its path.
    """
    path = Path(path)
    state = load_weights(path, map_location)
    loss_type = "stablemax_cross_entropy"
    if official_config is None:
        if (path.parent / "config.json").is_file():
            meta = json.loads((path.parent / "config.json").read_text())
            official_config, loss_type = meta["official_config"], meta.get("loss_type", loss_type)
            arch = arch or meta.get("arch")
            identifiers = identifiers if identifiers is not None else meta.get("identifiers")
        elif (path.parent / "all_config.yaml").is_file():
            official_config, name, loss_type = official_config_from_yaml(path.parent / "all_config.yaml", state)
            arch = arch or name
        else:
            raise CheckpointError(f"{path}: pass official_config (no config.json or all_config.yaml beside it)")
    if arch is None:
        arch = "hrm" if any(strip_official_prefix(k).startswith("H_level.") for k in state) else "trm"
    arch = resolve_arch(arch)
    model = build_model(arch, config_from_official(official_config, arch))
    import_official_state_dict(model, state, where=str(path), puzzle_rows=puzzle_rows)
    listed = json.loads(Path(identifiers).read_text()) if isinstance(identifiers, (str, Path)) else identifiers
    names = list(listed or [])
    return OfficialModel(
        model.to(map_location), arch, dict(official_config), loss_type, names, parse_identifiers(names)
    )


# ------------------------------------------------------------------------------------------ our format


def meta_path(path: str | Path) -> Path:
    """The JSON file beside a weights file: model.pt -> model.json."""
    return Path(path).with_suffix(".json")


def save_checkpoint(path: str | Path, model: TRM, provenance: dict[str, Any] | None = None) -> Path:
    """Write model weights to `path` and {format, arch, config, provenance} to the JSON beside it."""
    path = Path(path)
    meta = {
        "format": FORMAT,
        "arch": model.arch,
        "config": asdict(model.config),
        "provenance": provenance or {},
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"arc_trm": arc_trm.__version__, "torch": torch.__version__},
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_open(path, "wb") as f:
        torch.save(state, f)
    write_json(meta, meta_path(path), indent=2)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[TRM, dict[str, Any]]:
    """(model, metadata) from a checkpoint written by save_checkpoint."""
    path = Path(path)
    mpath = meta_path(path)
    if not mpath.is_file():
        raise CheckpointError(f"{path}: missing its metadata file {mpath.name}")
    try:
        meta = json.loads(mpath.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{mpath}: not valid JSON ({error})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{mpath}: format {meta.get('format')!r}, expected {FORMAT!r}")
    arch = resolve_arch(meta.get("arch", ""))
    config_class = ARCHS[arch][1]
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(meta["config"]) - known)
    if unknown:
        raise CheckpointError(f"{mpath}: unknown config fields {', '.join(unknown)}")
    model = build_model(arch, config_class(**meta["config"]))
    _check_and_load(model, load_weights(path, map_location), lambda k: k, str(path), "strict")
    return model.to(map_location), meta


def load_any(path: str | Path, map_location: str | torch.device = "cpu") -> TRM:
    """A model from our checkpoint (metadata JSON beside it) or else from an official one."""
    if meta_path(path).is_file():
        return load_checkpoint(path, map_location)[0]
    return load_official(path, map_location=map_location).model


EMBEDDED = {"prior": "assets/prior/prior.pt"}  # checkpoints inside the package, by the name a config gives them


def locate(name: str | Path) -> Path:
    """The file a `checkpoint` setting names: a checkpoint embedded in the package by its name ("prior": the
    shipped prior, docs/prior.md), else the path itself."""
    if str(name) in EMBEDDED:
        return Path(__file__).resolve().parent.parent / EMBEDDED[str(name)]
    return Path(name)


def load_for_solve(path: str | Path) -> TRM:
    """A pretrained model for `solve` to start each task from (`path` as `locate` reads it), checked before any
    task starts: any file that cannot serve (missing, unreadable, a broken companion JSON or YAML, unknown keys, a
    model that cannot run on a per-task canvas) is one CheckpointError that names the checkpoint (and the
    companion file at fault)."""
    path = locate(path)
    try:
        model = load_any(path)
    except Exception as error:  # ours, or a companion file's JSON/YAML, a missing key: all named with the file
        reason = str(error) if isinstance(error, CheckpointError) else f"{type(error).__name__}: {error}"
        raise CheckpointError(reason if str(path) in reason else f"{path}: {reason}") from None
    if model.config.mixer != "attention":
        raise CheckpointError(
            f"{path}: a model with the {model.config.mixer} mixer, which is tied to one sequence "
            "length (TRM-MLP); solve trains on per-task canvases, which need the attention mixer"
        )
    return model
