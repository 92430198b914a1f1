"""A duplex model in a child process that the harness can kill: the robust form of fault isolation.

``SIGALRM`` cannot interrupt a step stuck in C code (a native loop, a CUDA sync, a deadlocked lock), and a model
that calls ``os._exit`` or segfaults takes its process with it.  :class:`IsolatedModel` speaks the same protocol
as any model, but forwards every call over a pipe to a spawned process that builds and owns the real model.  A
call that exceeds the limit kills that process (:class:`StepTimeout`, "killed"); a process that dies is reported
as a fault; either way the next session starts a fresh process, so one faulty item never ends the run.  Healthy
models give identical records in or out of process: the same calls with the same arguments, in the same order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import weakref
from typing import Any, Callable

from benchmark.models import ModelError, build_model
from benchmark.protocol import DuplexModel, SessionInfo, StepOutput
from datagen.common.errors import DuplexkitError, fault_line, one_line

DEFAULT_START_TIMEOUT_S = 600.0  # building a model may load an LLM checkpoint; one that takes longer is hung
_QUIT_WAIT_S = 2.0  # a healthy child exits on "quit" at once; one that does not is killed after this


class StepTimeout(Exception):
    """A model call exceeded the per-step limit (the message says whether its process was killed)."""


class RelayedFault(Exception):
    """A model's exception relayed from its process; ``fault_type`` names the original type for the reason."""

    def __init__(self, fault_type: str, message: str) -> None:
        super().__init__(message)
        self.fault_type = fault_type


def _serve(conn: Any, name: str, factory: Callable[..., DuplexModel], options: dict[str, Any], parent: int) -> None:
    """The child's loop: build the model, then answer one call at a time; every model fault becomes a reply."""
    from datagen.common.jobs import worker_init

    worker_init(parent)  # Ctrl-C is the parent's; this process dies with it
    try:
        model = build_model(name, factory, options)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", one_line(exc) if isinstance(exc, DuplexkitError) else f"model {name!r}: {fault_line(exc)}"))
        return
    conn.send(("ok", model.info))
    session: Any = None
    while True:
        try:
            op, arg = conn.recv()
        except (EOFError, OSError):
            return
        if op == "quit":
            return
        try:
            if op == "prepare":
                result = model.prepare(arg)  # type: ignore[attr-defined]
            elif op == "open":
                session, result = model.open_session(arg), None
            elif op == "step":
                result = session.step(arg)
            else:  # close
                session, result = None, session.close()
            conn.send(("ok", result))
        except BaseException as exc:  # noqa: BLE001 - SIGINT is ignored here: anything raised is the model's fault
            conn.send(("error", type(exc).__name__, one_line(exc, limit=300, empty="")))


def _stop(proc: Any, conn: Any) -> None:
    """Ask the child to quit, then kill it if it does not (also run when the proxy is garbage-collected)."""
    try:
        conn.send(("quit", None))
    except (OSError, ValueError):
        pass
    proc.join(_QUIT_WAIT_S)
    if proc.is_alive():
        proc.kill()
        proc.join()
    conn.close()


class IsolatedModel:
    """The model ``factory(**options)`` run in its own process; each call waits at most ``timeout_s``."""

    isolated = True  # the harness leaves the time limit to us (no SIGALRM around our calls)

    def __init__(self, name: str, factory: Callable[..., DuplexModel], options: dict[str, Any],
                 timeout_s: float, start_timeout_s: float = DEFAULT_START_TIMEOUT_S) -> None:
        self.name, self.factory, self.options, self.timeout_s = name, factory, dict(options), timeout_s
        self.start_timeout_s = start_timeout_s
        self._proc: Any = None
        self._conn: Any = None
        self._finalizer: Any = None
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")  # as the worker pool: torch and onnxruntime threads do not survive a fork
        ours, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(theirs, self.name, self.factory, self.options, os.getpid()),
                                 name=f"duplexkit-model-{self.name}", daemon=True)  # a pool worker's exit
        # joins its non-daemon children: one blocked on our pipe would hang the pool's shutdown; daemons are killed
        self._proc.start()
        theirs.close()
        self._conn = ours
        self._finalizer = weakref.finalize(self, _stop, self._proc, ours)
        try:
            status, *reply = self._reply(self.start_timeout_s)  # building may load a checkpoint: a generous limit
        except RelayedFault as exc:
            raise ModelError(f"model {self.name!r}: its process died while starting ({exc})") from None
        except StepTimeout:
            raise ModelError(f"model {self.name!r}: not built within {self.start_timeout_s:g} s (--start-timeout); "
                             "its process was killed") from None
        if status == "error":
            self.close()
            raise ModelError(reply[0])
        self.info = reply[0]

    def _reply(self, timeout: float | None) -> tuple:
        try:
            if not self._conn.poll(timeout):
                self._kill()
                raise StepTimeout("model process killed")
            return self._conn.recv()
        except (EOFError, OSError):
            code = self._kill()
            raise RelayedFault("ModelProcessDied", f"exit code {code}") from None

    def _call(self, op: str, arg: Any) -> Any:
        if self._proc is None:
            self._start()  # the last process was killed or died: a fresh one for the next session
        try:
            self._conn.send((op, arg))
        except (OSError, ValueError):
            code = self._kill()
            raise RelayedFault("ModelProcessDied", f"exit code {code}") from None
        status, *reply = self._reply(self.timeout_s)
        if status == "error":
            raise RelayedFault(reply[0], reply[1])
        return reply[0]

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        self._finalizer.detach()
        proc.kill()
        proc.join()
        self._conn.close()
        return proc.exitcode

    def prepare(self, item: Any) -> None:
        self._call("prepare", item)

    def open_session(self, info: SessionInfo) -> "IsolatedSession":
        self._call("open", info)
        return IsolatedSession(self)

    def close(self) -> None:
        """Stop the model's process (a later session would start a new one)."""
        if self._proc is not None:
            self._finalizer()
            self._proc = None


class IsolatedSession:
    def __init__(self, model: IsolatedModel) -> None:
        self.model = model

    def step(self, mic_block: Any) -> StepOutput:
        return self.model._call("step", mic_block)

    def close(self) -> None:
        if self.model._proc is not None:  # a killed model has no session left to close
            self.model._call("close", None)
