"""The error base: every problem duplexkit reports to a user is one readable line naming the field or file."""

from __future__ import annotations


def one_line(exc: BaseException, limit: int | None = None, empty: str | None = None) -> str:
    """``exc`` as one line: its first line of text (at most ``limit`` characters), or ``empty`` when it has none
    (default: its type name)."""
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__ if empty is None else empty
    return text[0][:limit] if limit else text[0]


# What a fault handler must never swallow: a real Ctrl-C, and a generator being closed.
INTERRUPTS: tuple[type[BaseException], ...] = (KeyboardInterrupt, GeneratorExit)


def fault_line(exc: BaseException, limit: int | None = 300) -> str:
    """``TypeName: first line`` for a fault in code we do not own (a model, a plug-in).  An exception relayed from
    another process names the original type through its ``fault_type`` attribute."""
    return f"{getattr(exc, 'fault_type', type(exc).__name__)}: {one_line(exc, limit=limit, empty='')}"


class DuplexkitError(Exception):
    """Base of duplexkit's user-facing errors; the CLI prints :meth:`one_line` and exits 2."""

    def one_line(self) -> str:
        return one_line(self)
