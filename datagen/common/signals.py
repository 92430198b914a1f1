"""Interrupts at safe points only.

Python runs signal handlers between bytecodes, so a Ctrl-C can land inside a callback that C code calls (espeak's
audio callback through ctypes, soundfile's cffi callbacks).  An exception raised there is printed and swallowed by
the foreign caller: the C library carries on with a truncated buffer, and the run treats the result as whole.
:func:`deferred_interrupts` holds SIGINT/SIGTERM while such a call runs and delivers them right after it, where
the exception propagates normally and nothing half-done is kept.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

DEFERRED = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Run the block with SIGINT/SIGTERM held; a signal that arrived meanwhile is raised again on exit.

    Only the main thread may set handlers; elsewhere (and where a caller already defers) it is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only
        return
    if _depth[0]:  # an outer block already holds them
        _depth[0] += 1
        try:
            yield
        finally:
            _depth[0] -= 1
        return
    pending: list[int] = []
    previous = {}
    for sig in DEFERRED:
        try:
            previous[sig] = signal.signal(sig, lambda signum, frame: pending.append(signum))
        except (ValueError, OSError):  # not settable here (embedded interpreter): run undeferred
            pass
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])  # the original handler runs now: KeyboardInterrupt at a safe point


_depth = [0]  # nesting of deferred blocks in the main thread
