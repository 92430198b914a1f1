"""The closed-loop harness: a media clock that drives a duplex model block by block and lets it hear itself.

Clock and causality.  Block ``k`` of the mic covers item samples ``[1280k, 1280(k+1))``.  The model hears it at
step ``k`` and answers with one block of audio, which is *played* during the next block,
``[1280(k+1), 1280(k+2))``: a model cannot play a sound before it has heard the block it reacts to, so every
model carries the protocol's one-block (80 ms) algorithmic latency, the same for all.  The clock never sleeps:
compute time is measured per step and reported as the model's real-time factor instead.

Closed loop.  What the model plays goes through the scene's echo path (:class:`benchmark.audio.EchoPath`: the
loudspeaker nonlinearity, system delay and loudspeaker→mic RIR the corpus was rendered with, at the item's echo
factor) and is added to the following mic blocks, so a model that talks hears its own voice at the scene's delay and
level.  A reactive probe (an interruption, a backchannel, a distractor) is placed at the model's speech onset plus
the probe's offset; the onset is where the model's first speech after the question's end (minus
:data:`benchmark.items.ONSET_EARLY_S`) starts, found by the same silero-vad as the metrics use, streaming
(:class:`benchmark.activity.SpeechOnset`).  When the model never starts within the wait, the probe never fires
and the run records it.

Open loop.  ``open_loop=True`` replays fixed inputs as Full-Duplex-Bench does: no echo of the model, and reactive
probes at the corpus's own times.  Same items, same metrics, so closed and open loop compare directly.

Faults.  A model that raises (``SystemExit`` included; a real Ctrl-C still stops the run), returns a block of the
wrong size or with NaN/inf or a ``text``/``state`` that is not a string, or exceeds the per-step time limit ends its
item as failed, with the reason; the run goes on.  The limit is checked after each step and, on the main thread of a
Unix process, also enforced with ``SIGALRM`` so a hung step is interrupted; a step stuck in C code ignores that,
which is why a bench run isolates models in a process it can kill (:mod:`benchmark.isolation`).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from benchmark.activity import SpeechOnset
from benchmark.audio import EchoPath, StreamResampler
from benchmark.items import ONSET_EARLY_S, REACTIVE_MAX_WAIT_S, Materialized
from benchmark.isolation import StepTimeout
from benchmark.protocol import DuplexModel, SessionInfo, StepOutput
from datagen.common.errors import INTERRUPTS, fault_line
from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE, seconds_to_samples

DEFAULT_STEP_TIMEOUT_S = 30.0  # a hang detector, not a real-time bound (a CPU cascade's endpoint step: 3-12 s)


@dataclass
class ItemRun:
    """Everything one item's run produced, on the item's 16 kHz timeline (played audio at playback time)."""

    item_id: str
    heard: np.ndarray  # the mic as the model heard it (16 kHz)
    played: np.ndarray  # what the model played, placed where it was played
    text: list[tuple[int, str]] = field(default_factory=list)  # (playback sample, text piece)
    states: list[str | None] = field(default_factory=list)  # per step
    tokens: list[int | None] = field(default_factory=list)  # per step: the model's token id (None: it has none)
    step_s: list[float] = field(default_factory=list)  # compute seconds per step
    onset: int | None = None  # the model's first speech at or after the question (item samples)
    fired_at: int | None = None  # when the reactive probe was placed
    failure: str | None = None

    @property
    def compute_s(self) -> float:
        return float(sum(self.step_s))

    @property
    def audio_s(self) -> float:
        return len(self.step_s) * BLOCK_SAMPLES / SAMPLE_RATE

    def joined_text(self, since: int = 0) -> str:
        """The text stream from ``since`` on.  Pieces are joined verbatim when they carry their own spacing (as
        tokenizer pieces do), else with single spaces (word-per-piece streams)."""
        pieces = [t for s, t in self.text if s >= since and t]
        if any(p[:1].isspace() for p in pieces):
            return "".join(pieces).strip()
        return " ".join(p.strip() for p in pieces).strip()


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Interrupt a hung step with SIGALRM where that is possible (main thread, Unix); otherwise do nothing."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or seconds <= 0:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise StepTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_output(out: Any, block: int) -> np.ndarray:
    if not isinstance(out, StepOutput):
        raise ValueError(f"step returned {type(out).__name__}, not StepOutput")
    audio = np.asarray(out.audio, dtype=np.float32).reshape(-1) if out.audio is not None else None
    if audio is None or audio.shape != (block,):
        got = "None" if audio is None else str(np.asarray(out.audio).shape)
        raise ValueError(f"step returned audio of shape {got}, expected ({block},)")
    if not np.isfinite(audio).all():
        raise ValueError("step returned NaN or infinite samples")
    for name in ("text", "state"):
        value = getattr(out, name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"step returned {name} of type {type(value).__name__}, expected str or None")
    token = getattr(out, "token", None)
    if token is not None and (isinstance(token, bool) or not isinstance(token, (int, np.integer)) or token < 0):
        raise ValueError(f"step returned token {token!r}, expected a non-negative int or None")
    return audio


def _fault(exc: BaseException) -> str:
    """The one-line reason for a model's exception; a real interrupt is re-raised (it stops the run)."""
    if isinstance(exc, INTERRUPTS):
        raise exc
    return fault_line(exc)


def run_item(
    model: DuplexModel, item: Materialized, task: str = "", seed: int = 0,
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S, open_loop: bool = False,
) -> ItemRun:
    """Drive ``model`` through one item; never raises for the model's faults (see ``failure``).

    ``open_loop`` replays fixed inputs (Full-Duplex-Bench style): the model does not hear itself, and a reactive
    probe plays where the corpus had it (its offset after the corpus's own answer started), whatever the model does.
    """
    spec = item.spec
    n = spec.num_samples
    B = BLOCK_SAMPLES
    rate = model.info.sample_rate
    to_model, from_model = StreamResampler(SAMPLE_RATE, rate), StreamResampler(rate, SAMPLE_RATE)
    echo = EchoPath(item.rir, item.echo_delay, 0.0 if open_loop else item.echo_gain, item.nonlinearity)
    dynamic = np.zeros(n, np.float32)
    run = ItemRun(spec.id, np.zeros(n, np.float32), np.zeros(n, np.float32))
    probe = spec.reactive_probe
    if open_loop and probe is not None and spec.reference:
        run.fired_at = spec.reference[0][0] - spec.start + probe.start
        _place(dynamic, item.probe_audio, run.fired_at)
    onset_from = spec.question_end - seconds_to_samples(ONSET_EARLY_S)
    wait_until = spec.question_end + seconds_to_samples(REACTIVE_MAX_WAIT_S)
    onset_vad = SpeechOnset()
    call = "prepare"
    try:
        if model.info.reference:  # a bound that acts on the labels (the oracle); real models never see them
            model.prepare(item)  # type: ignore[attr-defined]
        call = "open_session"
        session = model.open_session(SessionInfo(spec.id, task, seed))
    except BaseException as exc:  # noqa: BLE001 - any model fault is recorded, never raised
        run.failure = f"{call} raised {_fault(exc)}"
        return run
    limit = 0.0 if getattr(model, "isolated", False) else step_timeout_s  # an isolated model enforces it itself
    try:
        for k in range(n // B):
            s = k * B
            mic = item.env[s : s + B] + dynamic[s : s + B] + echo.take(B)
            run.heard[s : s + B] = mic
            t0 = time.perf_counter()
            try:
                with _alarm(limit):
                    out = session.step(to_model(mic))
            except StepTimeout as exc:
                killed = f" ({exc})" if str(exc) else ""
                run.failure = f"step {k} exceeded the {step_timeout_s:g} s per-step limit{killed}"
                break
            except BaseException as exc:  # noqa: BLE001
                run.failure = f"step {k} raised {_fault(exc)}"
                break
            dt = time.perf_counter() - t0
            run.step_s.append(dt)
            if dt > step_timeout_s:
                run.failure = f"step {k} took {dt:.2f} s (limit {step_timeout_s:g} s)"
                break
            try:
                audio = _check_output(out, model.info.block_samples)
            except ValueError as exc:
                run.failure = f"step {k}: {exc}"
                break
            played = from_model(audio)
            at = s + B  # played during the next block
            if at < n:
                m = min(B, n - at)
                run.played[at : at + m] = played[:m]
            echo.play(played)
            run.states.append(out.state)
            run.tokens.append(None if getattr(out, "token", None) is None else int(out.token))
            if out.text:
                run.text.append((at, out.text))
            if run.onset is None and onset_from <= at <= wait_until:
                onset = onset_vad.feed(played, at)
                if onset is not None:
                    run.onset = onset
                    if probe is not None and not open_loop:
                        # the probe's offset counts from the onset; it cannot start before the block being heard
                        run.fired_at = max(onset + probe.start, s + B)
                        _place(dynamic, item.probe_audio, run.fired_at)
    finally:
        try:
            session.close()
        except BaseException as exc:  # noqa: BLE001
            run.failure = run.failure or f"close raised {_fault(exc)}"
    return run


def _place(track: np.ndarray, clip: np.ndarray | None, at: int) -> None:
    """Add ``clip`` into ``track`` from sample ``at`` (cut at the track's end)."""
    if clip is not None and 0 <= at < len(track):
        seg = clip[: len(track) - at]
        track[at : at + len(seg)] += seg


def real_time_factor(runs: list[ItemRun]) -> float:
    """Compute seconds per second of audio over all steps (< 1: faster than real time)."""
    audio = sum(r.audio_s for r in runs)
    return sum(r.compute_s for r in runs) / audio if audio > 0 else math.nan
