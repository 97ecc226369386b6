"""Configs: typed (nested) dataclasses, loaded from YAML, with `key.sub=value` overrides, dumped as resolved.

    cfg = load_config(SolveConfig, "configs/cpu.yaml", ["ttt.lr=3e-4", "model.hidden_size=128"])
    save_config(cfg, run_dir / "config.yaml")

Unknown keys and values of the wrong type are errors that name the file (or override) and the key.

Why not OmegaConf structured configs: they give the same typed merge and dotted overrides, but add a dependency
and return DictConfig objects that every caller would convert back; these 180 lines give plain dataclasses,
which the library, tests and notebook pass around unchanged, and errors in the words above.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from arc_trm.core.io import write_text

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")  # a config: a dataclass


class ConfigError(ValueError):
    """A config file or override that does not fit the config's dataclass."""


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config") -> C:
    """Build dataclass `cls` from a (nested) dict, checking keys and value types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    values = {key: _convert(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return cls(**values)


def _convert(kind: Any, value: Any, where: str) -> Any:
    """`value` as type `kind` (dataclass, Optional/union, int, float, bool, str, list, tuple, dict)."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):  # a nested config: its dataclass
        return value if isinstance(value, kind) else from_dict(kind, value, where)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or str(value).lower() == "none"):  # --set key=none unsets it
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        converted = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return converted if origin is list else tuple(converted)
    if kind is Any or origin is dict:
        return value
    return _scalar(kind, value, where)


def _scalar(kind: type, value: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:  # YAML 1.1 reads 3e-4 (no dot) as a string
            return float(value) if isinstance(value, str) else _fail(kind, value, where)
        except ValueError:
            pass
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        raise ConfigError(f"{where}: unsupported config type {kind!r}")
    _fail(kind, value, where)


def _fail(kind: type, value: Any, where: str):
    raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (tuples as lists), ready for YAML or JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set `a.b.c=value` entries (value parsed as YAML: 3e-4, true, [1, 2], null) into a nested dict copy."""
    data = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value")
        *parents, leaf = key.strip().split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[leaf] = yaml.safe_load(text) if text.strip() else ""
    return data


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None) -> C:
    """`cls` from a YAML file (defaults for what it leaves out), then the overrides."""
    data: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        where = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as err:
            raise ConfigError(f"{path}: cannot be read: {err}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: is not valid YAML: {err}") from None
    merged = _merge(to_dict(cls()), data, where)
    if overrides:
        where += " with overrides " + " ".join(overrides)
        merged = apply_overrides(merged, overrides)
    return from_dict(cls, merged, where)


def _merge(defaults: dict[str, Any], data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top, got {type(data).__name__}")
    merged = dict(defaults)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, where)
        else:
            merged[key] = value
    return merged


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically)."""
    return write_text(yaml.safe_dump(to_dict(config), sort_keys=False), path)


def changed_keys(saved: str | Path, config: Any, free: tuple[str, ...] = ()) -> list[str]:
    """The top-level keys in which `config` differs from the config saved at `saved` (a run folder's resolved
    config.yaml), leaving out the keys in `free`; [] when they agree or nothing was saved."""
    if not Path(saved).is_file():
        return []
    old, new = yaml.safe_load(Path(saved).read_text(encoding="utf-8")) or {}, to_dict(config)
    return sorted(k for k in set(old) | set(new) if k not in free and old.get(k) != new.get(k))
