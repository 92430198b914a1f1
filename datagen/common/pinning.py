"""Run pinning: the definition of a run (seed, config, model, versions ...) is stored in its output folder, and a
run started again there must have the same definition (it then resumes) or is refused (it would silently mix
two runs' outputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from datagen.common.errors import DuplexkitError
from datagen.common.files import atomic_write_text


class PinError(DuplexkitError, RuntimeError):
    """A folder that holds a run with another definition, or an unreadable pin; one line."""


def canonical(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The definition as it reads back from JSON (tuples become lists, unknown objects their ``str``)."""
    return json.loads(json.dumps(definition, default=str))


def digest(definition: Mapping[str, Any]) -> str:
    """A short, stable hash of a run definition (what shards and cached items are stamped with)."""
    import hashlib

    return hashlib.sha256(json.dumps(canonical(definition), sort_keys=True).encode()).hexdigest()[:16]


def pin_run(path: str | Path, definition: Mapping[str, Any], hint: str = "use a new --out", what: str = "a run",
            error: type[Exception] = PinError) -> None:
    """Write ``definition`` to ``path`` if absent; else check it equals the stored one.

    Refusals (``error``, one line) name the top-level keys that differ, e.g. ``out holds a run with a different
    seed, config; use a new --out``.
    """
    path = Path(path)
    definition = canonical(definition)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise error(f"{path}: unreadable run definition ({exc}); remove it or {hint}") from None
        if old != definition:
            keys = sorted(set(definition) | set(old if isinstance(old, dict) else {}))
            diff = [k for k in keys if not isinstance(old, dict) or old.get(k) != definition.get(k)]
            raise error(f"{run_folder(path)} holds {what} with a different {', '.join(diff)}; {hint}")
        return
    atomic_write_text(path, json.dumps(definition, indent=1, sort_keys=True))


def run_folder(pin: Path) -> Path:
    """The output folder a pin file belongs to (pins may sit in a hidden state folder inside it)."""
    return pin.parent.parent if pin.parent.name.startswith(".") else pin.parent
