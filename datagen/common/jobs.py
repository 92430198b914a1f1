"""Run independent jobs on local processes or Ray, yielding results as they finish (one place for both engines).

The generator's shards and the benchmark's dialogues use it.  Jobs are plain picklable calls ``fn(*args)``; results
do not depend on the engine or the worker count (callers write their outputs in a fixed order).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from datagen.common.config import ConfigError
from datagen.common.errors import DuplexkitError

ENGINES = ("local", "ray")


class JobsError(DuplexkitError, RuntimeError):
    """The job engine cannot start (Ray missing); one line saying what to install."""


def check_engine(engine: str, workers: int) -> None:
    """ConfigError for an unknown engine or a worker count that is not an integer >= 1."""
    if engine not in ENGINES:
        raise ConfigError(f"engine: unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: must be an integer >= 1, got {workers!r}")


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], engine: str = "local", workers: int = 1,
             ray_address: str | None = None, ray_temp_dir: str | Path | None = None) -> Iterator[Any]:
    """``fn(*job)`` for every job: in this process (1 worker), spawned processes, or Ray tasks."""
    check_engine(engine, workers)
    if engine == "local":
        return _local(fn, jobs, workers)
    if engine == "ray":
        try:
            import ray  # noqa: F401 - fail here, with the install hint, not at the first result
        except ImportError:
            raise JobsError("--engine ray needs Ray: pip install 'duplexkit[ray]'") from None
    return _ray(fn, jobs, workers, ray_address, ray_temp_dir)


def _local(fn: Callable[..., Any], jobs: Iterable[tuple], workers: int) -> Iterator[Any]:
    if workers <= 1:
        for job in jobs:
            yield fn(*job)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: torch and onnxruntime threads do not survive a fork
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=worker_init,
                               initargs=(os.getpid(),))
    futures = []
    try:
        futures = [pool.submit(fn, *job) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()
    except BaseException:  # Ctrl-C, a failed job, or the consumer closing us: stop now, queued work included
        for fut in futures:
            fut.cancel()
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def worker_init(parent: int) -> None:
    """In each worker (a pool's, or an isolated model's process): Ctrl-C is the parent's to handle (it stops the
    pool), and the worker exits when its parent dies (SIGKILL included), so no orphan keeps rendering or blocks the
    resource tracker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent)
    _thread_lock_for_tqdm()


def _thread_lock_for_tqdm() -> None:
    """tqdm makes a multiprocessing lock (a named semaphore) on its first bar, and libraries open disabled bars
    (faster-whisper, per call). A worker killed at the end of a run never releases it, and the resource tracker then
    warns of a "leaked semaphore" at shutdown. A spawned worker's lock is its own anyway, so a thread lock does."""
    import threading

    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return
    tqdm.set_lock(threading.RLock())


def _exit_with_parent(parent: int) -> None:
    try:  # Linux: the kernel kills us with the parent
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        return
    except (OSError, AttributeError):
        pass
    import threading
    import time

    def watch() -> None:  # elsewhere: poll
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="duplexkit-parent-watch").start()


def _kill_workers(pool: Any) -> None:
    """Terminate the pool's processes now (the executor itself would wait for every running job)."""
    for proc in list(getattr(pool, "_processes", {}).values()):  # stdlib has no public handle on them
        try:
            proc.terminate()
        except (OSError, AttributeError):
            pass


def _ray(fn: Callable[..., Any], jobs: Iterable[tuple], workers: int, address: str | None,
         temp_dir: str | Path | None) -> Iterator[Any]:
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = max(1, workers)
            # Ray's unix sockets must fit in 107 bytes; fall back to its default temp dir for deep paths.
            if temp_dir is not None and len(str(Path(temp_dir).resolve())) < 60:
                Path(temp_dir).mkdir(parents=True, exist_ok=True)
                kwargs["_temp_dir"] = str(Path(temp_dir).resolve())
        ray.init(**kwargs)
    try:
        task = ray.remote(fn)
        pending = [task.remote(*job) for job in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()
