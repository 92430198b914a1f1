"""The error base: every problem duplexkit reports to a user is one readable line naming the field or file."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: its first line of text, or its type name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class DuplexkitError(Exception):
    """Base of duplexkit's user-facing errors; the CLI prints :meth:`one_line` and exits 2."""

    def one_line(self) -> str:
        return one_line(self)
