"""``duplexkit export``: a corpus as stereo WAVs (for listening) or as Full-Duplex-Bench v1 sample directories.

FDB layout (Lin et al. 2025, github.com/DanielLin94144/Full-Duplex-Bench, ``dataset/README.md`` and
``evaluation/eval_*.py``): one directory per sample holding ``input.wav`` (what the model hears, 16 kHz mono),
``transcription.json`` (``{"text", "chunks": [{"text", "timestamp": [s, e]}]}``) and the task's annotation:

* ``pause_handling/{id}/pause.json``: ``[{"timestamp": [pause_start, pause_end]}]``; the input ends at the end of
  the pause (any take-over counts against the model).
* ``smooth_turn_taking/{id}/turn_taking.json``: ``[{"timestamp": [turn_end, turn_end]}]`` (FDB reads element 0 as
  the end of the user's turn); the input continues with :data:`TAIL_S` of the room's noise for the response.
* ``user_interruption/{id}/interrupt.json``: ``[{"timestamp": [start, end], "context": ..., "interrupt": ...}]``
  (FDB reads element 1 as the end of the interruption) plus ``context.wav`` and ``interrupt.wav``.
* ``backchannel/{n}/``: a long user turn in clauses (input and transcription, as ICC in FDB).  FDB's
  ``eval_backchannel.py`` reads only folders named by digits and takes its ground truth from one
  ``icc_gt_distribution.json`` (``{folder: [p per 0.2 s window]}``); we number these folders 0, 1, ... and write
  that file next to them, built from the ``assistant_backchannel`` opportunity windows the same way FDB bins
  predicted backchannels (see :func:`backchannel_gt_distribution`).

The input is the mic without the assistant's echo (user + other + noise): FDB replays inputs open loop, where the
model's own voice is not in what it hears.  Each sample also carries ``duplexkit.json`` (source dialogue, event,
segment offset) so results can be traced back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from datagen.common.audio import encode_wav
from datagen.common.files import atomic_write_bytes, atomic_write_text
from datagen.corpus import Corpus
from datagen.schema import Dialogue, Event, samples_to_seconds, seconds_to_samples

TAIL_S = 5.0
GT_WINDOW_S = 0.2  # eval_backchannel.py's window_size
GT_EPSILON = 1e-10  # and its epsilon
FDB_TASKS = ("pause_handling", "smooth_turn_taking", "user_interruption", "backchannel")


def _write_wav(path: Path, audio: np.ndarray) -> None:
    atomic_write_bytes(path, encode_wav(audio))


def _chunks(d: Dialogue, lo: int, hi: int, speakers: tuple[str, ...] = ("user",)) -> dict[str, Any]:
    words = [
        w for t in d.turns if t.speaker in speakers and t.addressed_to_assistant for w in t.words if lo <= w.start < hi
    ]
    words.sort(key=lambda w: w.start)
    return {
        "text": " ".join(w.text for w in words),
        "chunks": [
            {"text": w.text, "timestamp": [samples_to_seconds(w.start - lo), samples_to_seconds(min(w.end, hi) - lo)]}
            for w in words
        ],
    }


def _user_turn_before(d: Dialogue, t: int) -> Event | None:
    turns = [e for e in d.events if e.type == "user_turn" and e.start <= t]
    return max(turns, key=lambda e: e.start) if turns else None


def _fdb_samples(d: Dialogue) -> list[tuple[str, Event, int, int, int]]:
    """(task, event, segment start, content end, total end) for every event that makes an FDB sample."""
    out = []
    for e in d.events:
        if e.type == "user_pause":
            turn = _user_turn_before(d, e.start)
            if turn is not None:
                out.append(("pause_handling", e, turn.start, e.end, e.end))
        elif e.type == "user_turn" and e.expected == "respond" and not e.meta.get("paused") and not e.meta.get("clauses"):
            out.append(("smooth_turn_taking", e, e.start, e.end, e.end + seconds_to_samples(TAIL_S)))
        elif e.type == "interruption" and e.speaker == "user":
            turn = _user_turn_before(d, e.start)
            if turn is not None:
                out.append(("user_interruption", e, turn.start, e.end, e.end + seconds_to_samples(TAIL_S)))
        elif e.type == "user_turn" and e.meta.get("clauses"):
            out.append(("backchannel", e, e.start, e.end, e.end + seconds_to_samples(1.0)))
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
    the same rule FDB applies to the model's backchannels (bins ``int(s/0.2) .. int(e/0.2)``).
    """
    bins = np.zeros(int(duration_s / GT_WINDOW_S) + 1)
    for s, e in windows:
        for i in range(max(0, int(s / GT_WINDOW_S)), min(len(bins) - 1, int(e / GT_WINDOW_S)) + 1):
            bins[i] += 1
    bins += GT_EPSILON
    return [float(x) for x in bins / bins.sum()]


def export_fdb(corpus: Corpus, out: Path) -> list[Path]:
    written: list[Path] = []
    gt: dict[str, list[float]] = {}
    for d, audio in corpus.iter_audio():
        for i, (task, e, lo, content_end, end) in enumerate(_fdb_samples(d)):
            name = str(len(gt)) if task == "backchannel" else f"{d.id}-{i:02d}"
            sample = out / task / name
            sample.mkdir(parents=True, exist_ok=True)
            _write_wav(sample / "input.wav", _fdb_input(audio, lo, content_end, end))
            atomic_write_text(sample / "transcription.json", json.dumps(_chunks(d, lo, content_end), indent=1))
            rel = lambda t: samples_to_seconds(t - lo)  # noqa: E731
            if task == "pause_handling":
                atomic_write_text(sample / "pause.json", json.dumps([{"timestamp": [rel(e.start), rel(e.end)]}]))
            elif task == "smooth_turn_taking":
                atomic_write_text(sample / "turn_taking.json", json.dumps([{"timestamp": [rel(e.end), rel(e.end)]}]))
            elif task == "user_interruption":
                context = _user_turn_before(d, e.start)
                assert context is not None
                context_text = _chunks(d, context.start, context.end)["text"]
                interrupt_text = d.turns[e.turn].text if e.turn is not None else ""
                meta = [{"timestamp": [rel(e.start), rel(e.end)], "context": context_text, "interrupt": interrupt_text}]
                atomic_write_text(sample / "interrupt.json", json.dumps(meta))
                heard = audio["user"] + audio["other"] + audio["noise"]
                _write_wav(sample / "context.wav", heard[context.start : context.end])
                _write_wav(sample / "interrupt.wav", heard[e.start : e.end])
            elif task == "backchannel":
                windows = [
                    (rel(b.start), rel(b.end))
                    for b in d.events
                    if b.type == "assistant_backchannel" and lo <= b.start < end
                ]
                gt[name] = backchannel_gt_distribution(windows, samples_to_seconds(end - lo))
            info = {"dialogue": d.id, "scenario": d.scenario, "event": e.to_dict(), "offset_s": samples_to_seconds(lo)}
            atomic_write_text(sample / "duplexkit.json", json.dumps(info, indent=1))
            written.append(sample)
    if gt:
        atomic_write_text(out / "backchannel" / "icc_gt_distribution.json", json.dumps(gt))
    return written


def export_wav(corpus: Corpus, out: Path) -> list[Path]:
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for d, audio in corpus.iter_audio(channels=("mic", "assistant")):
        path = out / f"{d.id}.wav"
        _write_wav(path, np.stack([audio["mic"], audio["assistant"]], axis=1))
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
