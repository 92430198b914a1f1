"""The error base: every problem duplexkit reports to a user is one readable line naming the field or file."""

from __future__ import annotations


def one_line(exc: BaseException, limit: int | None = None, empty: str | None = None) -> str:
    """``exc`` as one line: its first line of text (at most ``limit`` characters), or ``empty`` when it has none
    (default: its type name)."""
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__ if empty is None else empty
    return text[0][:limit] if limit else text[0]


class DuplexkitError(Exception):
    """Base of duplexkit's user-facing errors; the CLI prints :meth:`one_line` and exits 2."""

    def one_line(self) -> str:
        return one_line(self)
