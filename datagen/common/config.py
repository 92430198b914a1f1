"""The one config grammar: YAML (or JSON) files, dotted ``key=value`` overrides whose values are YAML scalars,
dataclasses that refuse unknown keys, and one :class:`ConfigError` whose message names the key or file.

Why strict: a typo (``lora_rnak: 8``) must fail loudly with its dotted path, not silently run something else.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

from datagen.common.errors import DuplexkitError, one_line


class ConfigError(DuplexkitError, ValueError):
    """A bad config value, key or file; the message is one line naming it."""


def check_known_keys(d: Mapping[str, Any], cls: type, where: str = "") -> None:
    """Refuse keys that are not fields of dataclass ``cls``, naming the first and listing the known ones."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")


def parse_value(text: str) -> Any:
    """A ``key=value`` value: a YAML scalar or flow collection (``3``, ``1e-3``, ``true``, ``[0, 0.5]``, ``abc``)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


MAX_CONFIG_BYTES = 1 << 20  # a config file larger than this is not a config
MAX_CONFIG_NODES = 100_000  # values in a config once YAML aliases are expanded (an alias bomb expands to billions)


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """How many YAML nodes ``node`` stands for once aliases are expanded (shared subtrees counted each time)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once
    children = node.value if isinstance(node.value, list) else []
    total = 1
    for child in children:
        for part in child if isinstance(child, tuple) else (child,):
            total += _expanded_size(part, memo)
            if total > MAX_CONFIG_NODES:
                break
    memo[id(node)] = total
    return total


def read_yaml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML/JSON file holding a mapping (empty file: ``{}``); ConfigError naming the file otherwise.

    Limits: at most :data:`MAX_CONFIG_BYTES` and :data:`MAX_CONFIG_NODES` values once aliases are expanded, so a
    hostile file (a "billion laughs" alias bomb) is refused instead of exhausting memory later."""
    import yaml

    p = Path(path)
    try:
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: {what} is larger than {MAX_CONFIG_BYTES >> 20} MiB")
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}) > MAX_CONFIG_NODES:
            raise ConfigError(f"{p}: {what} expands to more than {MAX_CONFIG_NODES} values (YAML aliases)")
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML/JSON ({one_line(exc)})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    return dict(loaded or {})


def parse_overrides(pairs: Sequence[str], what: str = "override") -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b.c": "x"}`` (flat, dotted keys kept)."""
    out: dict[str, Any] = {}
    for item in pairs or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what}: expected key=value, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], what: str = "override") -> dict[str, Any]:
    """Dotted ``key.sub=value`` strings applied to a nested dict, in place (sections created as needed)."""
    for key, value in parse_overrides(overrides, what).items():
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{what} {key}={value!r}: {p} is not a section")
        node[parts[-1]] = value
    return data


def check_type(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against a simple type hint (int, float, str, bool, list[...], dict[...], X | None), naming
    ``where`` when it does not fit; ints (and YAML 1.1's ``1e-3`` strings) are converted for floats.  Other hints
    pass unchecked."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return check_type(value, inner[0], where) if len(inner) == 1 else value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot in the mantissa) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        if len(args) == 2 and args[1] is not Any:
            return {k: check_type(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return value
    return value


def build_dataclass(cls: type, data: Any, where: str = "") -> Any:
    """``cls(**data)`` with nested dataclass fields built recursively and simple field types checked
    (:func:`check_type`); unknown keys, wrong types and non-mappings are a ConfigError naming the dotted path."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown config key {path!r} (known: {', '.join(fields)})")
        sub = hints.get(key)
        kwargs[key] = build_dataclass(sub, value, path) if dataclasses.is_dataclass(sub) else check_type(value, sub, path)
    return cls(**kwargs)
