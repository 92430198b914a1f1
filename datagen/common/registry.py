"""One lazy registry: names map to factories or ``"module:attribute"`` strings imported on first use, so naming a
heavy backend (torch, transformers) costs nothing until it is chosen (lm-evaluation-harness's lazy model map)."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterator, TypeVar

from datagen.common.errors import DuplexkitError

T = TypeVar("T")


class UnknownName(DuplexkitError, KeyError, ValueError):
    """A name no registry entry has (a lookup error and a bad value); the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message; a CLI line should not
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """``kind`` names what is registered (``"model"``, ``"ASR"``, ``"TTS backend"``): it starts the error lines.

    ``missing`` is the error type raised for a module that cannot be imported (an optional extra not installed).
    """

    def __init__(self, kind: str, entries: dict[str, str | Callable[..., T]] | None = None,
                 where: str = "", missing: type[Exception] = RuntimeError) -> None:
        self.kind = kind
        self.where = where
        self.missing = missing
        self._entries: dict[str, str | Callable[..., T]] = dict(entries or {})

    def register(self, name: str, target: str | Callable[..., T]) -> None:
        """Add or replace ``name``: a factory, or ``"module:attribute"`` imported when first used."""
        self._entries[name] = target

    def names(self) -> list[str]:
        """Registered names in registration order (defaults first)."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def resolve(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (imported now if it was a string)."""
        if name not in self._entries:
            prefix = f"{self.where}: " if self.where else ""
            raise UnknownName(f"{prefix}unknown {self.kind} {name!r} (known: {', '.join(self._entries)})")
        target = self._entries[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            try:
                target = getattr(importlib.import_module(module), attr)
            except ImportError as exc:
                raise self.missing(f"{self.kind} {name!r} needs a package that is not installed: {exc}") from None
        return target

    def create(self, name: str, *args: Any, **options: Any) -> T:
        return self.resolve(name)(*args, **options)
