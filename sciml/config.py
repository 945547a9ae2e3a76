"""Frozen dataclass configurations loaded from YAML and ``--set key=value`` overrides.

Unknown keys are errors that list the valid ones; values are converted to the declared field
type (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``tuple[int, ...]``, optional).

A run is described by named sections (for a model: ``model`` and ``train``). A key may be
written with its section (``model.modes=16``) or alone (``modes=16``) when only one section
has a field of that name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from sciml._errors import ConfigError

__all__ = ["from_dict", "to_dict", "replace", "parse_overrides", "load_yaml", "build_sections"]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; take such strings as the numbers they spell."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{key} must have {len(args)} entries, got {len(value)}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        value = _number(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        value = _number(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: cannot read a value of type {_type_name(tp)}")


def from_dict(cls: type, data: Mapping[str, Any], *, where: str = "config") -> Any:
    """Build the frozen dataclass ``cls`` from ``data``, refusing unknown keys and converting types."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown {where} key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                          f"valid keys are {', '.join(names)}")
    values = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as a plain dict (tuples become lists, so the dict is YAML/JSON/checkpoint safe)."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v
    return {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def replace(cfg: Any, changes: Mapping[str, Any], *, where: str = "config") -> Any:
    """``dataclasses.replace`` with the same key checking and type conversion as :func:`from_dict`."""
    merged = to_dict(cfg)
    merged.update(changes)
    return from_dict(type(cfg), merged, where=where)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``["key=value", ...]``; each value is read as YAML (``3``, ``1e-3``, ``[12, 12]``, ``true``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = _number(yaml.safe_load(raw)) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: cannot read value {raw!r}: {exc}") from exc
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, got {type(data).__name__}")
    return data


def _split(sections: Mapping[str, type], data: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    fields = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in sections.items()}
    out: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for key, value in data.items():
        if key in sections and isinstance(value, Mapping):
            for sub, v in value.items():
                out[key][sub] = v
            continue
        section, dot, field = key.partition(".")
        if dot and section in sections:
            out[section][field] = value
            continue
        owners = [name for name, names in fields.items() if key in names]
        if len(owners) == 1:
            out[owners[0]][key] = value
        elif len(owners) > 1:
            raise ConfigError(f"{where} key {key!r} is ambiguous; write it as "
                              f"{' or '.join(f'{o}.{key}' for o in owners)}")
        else:
            valid = ", ".join(sorted(set().union(*fields.values())))
            raise ConfigError(f"unknown {where} key {key!r}; valid keys are {valid}")
    return out


def build_sections(sections: Mapping[str, type], *layers: tuple[str, Mapping[str, Any]],
                   base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build one dataclass per section from layered mappings (later layers win).

    Parameters
    ----------
    sections : mapping of section name to dataclass type
    layers : (description, mapping) pairs, e.g. ``("config file x.yaml", {...})``, ``("--set", {...})``
    base : optional mapping of section name to existing dataclass instances to start from
    """
    merged: dict[str, dict[str, Any]] = {name: {} for name in sections}
    if base:
        for name, cfg in base.items():
            merged[name].update(to_dict(cfg))
    for where, data in layers:
        for name, values in _split(sections, data, where).items():
            merged[name].update(values)
    return {name: from_dict(cls, merged[name], where=name) for name, cls in sections.items()}
