"""``duplexkit export``: a corpus as stereo WAVs (for listening) or as Full-Duplex-Bench v1 sample directories.

Which events make which FDB samples (the layout itself, names and JSON shapes, is :mod:`datagen.fdb_layout`):

* ``pause_handling``: an in-turn pause, from the start of its user turn; the input ends at the end of the pause
  (any take-over counts against the model).
* ``smooth_turn_taking``: a user turn the assistant answers; the input continues with
  :data:`~datagen.fdb_layout.TAIL_S` of the room's noise for the response.
* ``user_interruption``: a user barge-in, from the start of the user turn before it, then the same tail; plus
  ``context.wav`` (that turn) and ``interrupt.wav``.
* ``backchannel``: a long user turn in clauses (as ICC in FDB).  FDB's ``eval_backchannel.py`` reads only folders
  named by digits and takes its ground truth from one ``icc_gt_distribution.json``; we number these folders 0, 1,
  ... and build that file from the ``assistant_backchannel`` opportunity windows, binned the way FDB bins predicted
  backchannels (see :func:`backchannel_gt_distribution`).

The input is the mic without the assistant's echo (user + other + noise): FDB replays inputs open loop, where the
model's own voice is not in what it hears.  Each sample also carries ``duplexkit.json`` (source dialogue, event,
segment offset) so results can be traced back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from datagen import fdb_layout as L
from datagen.common.audio import encode_wav
from datagen.common.files import atomic_write_bytes, atomic_write_text
from datagen.corpus import Corpus
from datagen.schema import Dialogue, Event, samples_to_seconds, seconds_to_samples


def _transcript(d: Dialogue, lo: int, hi: int, speakers: tuple[str, ...] = ("user",)) -> L.Transcript:
    """The words said to the assistant that start in ``[lo, hi)``, timed from ``lo`` (ends cut at ``hi``)."""
    words = [
        w for t in d.turns if t.speaker in speakers and t.addressed_to_assistant for w in t.words if lo <= w.start < hi
    ]
    words.sort(key=lambda w: w.start)
    chunks = tuple(
        L.Chunk(w.text, samples_to_seconds(w.start - lo), samples_to_seconds(min(w.end, hi) - lo)) for w in words
    )
    return L.Transcript(" ".join(w.text for w in words), chunks)


def _user_turn_before(d: Dialogue, t: int) -> Event | None:
    turns = [e for e in d.events if e.type == "user_turn" and e.start <= t]
    return max(turns, key=lambda e: e.start) if turns else None


def _fdb_samples(d: Dialogue) -> list[tuple[str, Event, int, int, int]]:
    """(task, event, segment start, content end, total end) for every event that makes an FDB sample."""
    tail, bc_tail = seconds_to_samples(L.TAIL_S), seconds_to_samples(L.BACKCHANNEL_TAIL_S)
    out = []
    for e in d.events:
        if e.type == "user_pause":
            turn = _user_turn_before(d, e.start)
            if turn is not None:
                out.append((L.PAUSE_HANDLING, e, turn.start, e.end, e.end))
        elif e.type == "user_turn" and e.expected == "respond" and not e.meta.get("paused") and not e.meta.get("clauses"):
            out.append((L.SMOOTH_TURN_TAKING, e, e.start, e.end, e.end + tail))
        elif e.type == "interruption" and e.speaker == "user":
            turn = _user_turn_before(d, e.start)
            if turn is not None:
                out.append((L.USER_INTERRUPTION, e, turn.start, e.end, e.end + tail))
        elif e.type == "user_turn" and e.meta.get("clauses"):
            out.append((L.BACKCHANNEL, e, e.start, e.end, e.end + bc_tail))
    return out


def _fdb_input(audio: dict[str, np.ndarray], lo: int, content_end: int, end: int) -> np.ndarray:
    """Mic without echo from ``lo`` to ``content_end``, then the noise stem only (nobody speaks) until ``end``."""
    heard = audio["user"] + audio["other"] + audio["noise"]
    x = np.zeros(end - lo, np.float32)
    head = heard[lo:content_end]
    x[: len(head)] = head
    tail = audio["noise"][content_end:end]
    x[len(head) : len(head) + len(tail)] = tail
    return x


def backchannel_gt_distribution(windows: list[tuple[float, float]], duration_s: float) -> list[float]:
    """Where a good listener backchannels, as FDB's ground truth: windows counted per 0.2 s bin, + eps, normalised.

    FDB's ICC distribution comes from human listeners; ours from the planner's opportunity windows, binned with
    the rule FDB applies to the model's backchannels (:func:`datagen.fdb_layout.window_distribution`).
    """
    return [float(x) for x in L.window_distribution(windows, duration_s)]


def export_fdb(corpus: Corpus, out: Path) -> list[Path]:
    written: list[Path] = []
    gt: dict[str, list[float]] = {}
    for d, audio in corpus.iter_audio():
        for i, (task, e, lo, content_end, end) in enumerate(_fdb_samples(d)):
            name = str(len(gt)) if task == L.BACKCHANNEL else f"{d.id}-{i:02d}"
            sample = out / task / name
            sample.mkdir(parents=True, exist_ok=True)
            L.write_wav(sample / L.INPUT_WAV, _fdb_input(audio, lo, content_end, end))
            L.write_transcript(sample / L.TRANSCRIPTION_JSON, _transcript(d, lo, content_end))
            rel = lambda t: samples_to_seconds(t - lo)  # noqa: E731
            if task == L.PAUSE_HANDLING:
                L.write_pause(sample, rel(e.start), rel(e.end))
            elif task == L.SMOOTH_TURN_TAKING:
                L.write_turn_taking(sample, rel(e.end))
            elif task == L.USER_INTERRUPTION:
                context = _user_turn_before(d, e.start)
                assert context is not None
                context_text = _transcript(d, context.start, context.end).text
                interrupt_text = d.turns[e.turn].text if e.turn is not None else ""
                L.write_interrupt(sample, L.Interrupt(rel(e.start), rel(e.end), context_text, interrupt_text))
                heard = audio["user"] + audio["other"] + audio["noise"]
                L.write_wav(sample / L.CONTEXT_WAV, heard[context.start : context.end])
                L.write_wav(sample / L.INTERRUPT_WAV, heard[e.start : e.end])
            elif task == L.BACKCHANNEL:
                windows = [
                    (rel(b.start), rel(b.end))
                    for b in d.events
                    if b.type == "assistant_backchannel" and lo <= b.start < end
                ]
                gt[name] = backchannel_gt_distribution(windows, samples_to_seconds(end - lo))
            info = {"dialogue": d.id, "scenario": d.scenario, "event": e.to_dict(), "offset_s": samples_to_seconds(lo)}
            L.write_info(sample, info)
            written.append(sample)
    if gt:
        L.write_gt_distribution(out / L.BACKCHANNEL, gt)
    return written


def export_wav(corpus: Corpus, out: Path) -> list[Path]:
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for d, audio in corpus.iter_audio(channels=("mic", "assistant")):
        path = out / f"{d.id}.wav"
        atomic_write_bytes(path, encode_wav(np.stack([audio["mic"], audio["assistant"]], axis=1)))
        atomic_write_text(out / f"{d.id}.json", json.dumps(d.to_dict(), indent=1))
        written.append(path)
    return written


def export_corpus(root: str | Path, out: str | Path, fmt: str = "wav") -> list[Path]:
    corpus = Corpus(root)
    out = Path(out)
    if fmt == "wav":
        return export_wav(corpus, out)
    if fmt == "fdb":
        return export_fdb(corpus, out)
    raise ValueError(f"--format: unknown export format {fmt!r} (known: wav, fdb)")
