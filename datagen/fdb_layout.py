"""The Full-Duplex-Bench v1 sample-directory layout, written down once: file and folder names, the constants both
sides agree on, and readers and writers of its JSON files.

Why one module: the exporter (:mod:`datagen.export`) writes this layout, ``duplexkit bench items`` writes
``input.wav`` folders the ``files`` model reads back, and the scorer (:mod:`benchmark.fdb`) reads it; with one
definition they cannot drift apart.  It lives in ``datagen`` because ``datagen`` never imports ``benchmark``.
Where each name comes from in FDB's code, and what its metrics read: ``docs/fdb.md``.

A task folder holds one directory per sample::

    <task>/<sample>/input.wav           what the model hears (16 kHz mono)
                    output.wav          the model's time-synchronous output (written by the model under test)
                    output.json         ASR words of output.wav (FDB's get_transcript/asr.py), a transcript
                    transcription.json  the input's words, a transcript
                    pause.json | turn_taking.json | interrupt.json   the task's annotation
                    context.wav, interrupt.wav                       user interruption only
                    duplexkit.json      where an exported sample came from (not FDB's)
    backchannel/icc_gt_distribution.json   {sample name: [p per 0.2 s window]}

A transcript is ``{"text": "w1 w2", "chunks": [{"text": "w1", "timestamp": [start_s, end_s]}, ...]}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from datagen.common.audio import encode_wav
from datagen.common.errors import DuplexkitError
from datagen.common.files import atomic_write_bytes, atomic_write_text

# Task folders (FDB v1's four tasks)
PAUSE_HANDLING = "pause_handling"
SMOOTH_TURN_TAKING = "smooth_turn_taking"
USER_INTERRUPTION = "user_interruption"
BACKCHANNEL = "backchannel"
FDB_TASKS = (PAUSE_HANDLING, SMOOTH_TURN_TAKING, USER_INTERRUPTION, BACKCHANNEL)

# Files of a sample directory
INPUT_WAV = "input.wav"
OUTPUT_WAV = "output.wav"
OUTPUT_JSON = "output.json"
TRANSCRIPTION_JSON = "transcription.json"
PAUSE_JSON = "pause.json"
TURN_TAKING_JSON = "turn_taking.json"
INTERRUPT_JSON = "interrupt.json"
CONTEXT_WAV = "context.wav"
INTERRUPT_WAV = "interrupt.wav"
DUPLEXKIT_JSON = "duplexkit.json"  # ours: source dialogue, event, offset
ITEM_JSON = "item.json"  # ours: the item spec beside each ``bench items`` input.wav
GT_DISTRIBUTION_FILE = "icc_gt_distribution.json"  # in the backchannel task folder

TAIL_S = 5.0  # input kept after a turn or interruption ends, for the response (noise only)
BACKCHANNEL_TAIL_S = 1.0  # input kept after a long user turn
GT_WINDOW_S = 0.2  # eval_backchannel.py's window_size
GT_EPSILON = 1e-10  # and its epsilon


class FDBError(DuplexkitError, ValueError):
    """A missing or malformed file in an FDB directory; the message is one line that names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {' '.join(str(problem).split())}")


@dataclass(frozen=True)
class Chunk:
    """One word of a transcript; ``end`` may be None (Whisper-style ASR drops the last word's end)."""

    text: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Transcript:
    """``output.json`` / ``transcription.json``: the text and its timed chunks."""

    text: str
    words: tuple[Chunk, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON FDB's asr.py would write for these words."""
        return {"text": self.text, "chunks": [{"text": w.text, "timestamp": [w.start, w.end]} for w in self.words]}


@dataclass(frozen=True)
class Interrupt:
    """``interrupt.json[0]``: the interruption's span and the texts FDB's relevance judge reads."""

    start: float
    end: float
    context: str
    interrupt: str


# ---------------------------------------------------------------------------------------------- writers


def write_wav(path: Path, audio: np.ndarray) -> None:
    """A 16-bit 16 kHz mono WAV, atomically (a killed export leaves no half-written input)."""
    atomic_write_bytes(path, encode_wav(audio))


def write_transcript(path: Path, transcript: Transcript) -> None:
    atomic_write_text(path, json.dumps(transcript.to_json(), indent=1))


def write_pause(sample: Path, start: float, end: float) -> None:
    atomic_write_text(sample / PAUSE_JSON, json.dumps([{"timestamp": [start, end]}]))


def write_turn_taking(sample: Path, turn_end: float) -> None:
    """FDB reads element 0 of the timestamp as the end of the user's turn; both elements are that time."""
    atomic_write_text(sample / TURN_TAKING_JSON, json.dumps([{"timestamp": [turn_end, turn_end]}]))


def write_interrupt(sample: Path, interrupt: Interrupt) -> None:
    meta = [{"timestamp": [interrupt.start, interrupt.end], "context": interrupt.context,
             "interrupt": interrupt.interrupt}]
    atomic_write_text(sample / INTERRUPT_JSON, json.dumps(meta))


def write_info(sample: Path, info: dict[str, Any]) -> None:
    atomic_write_text(sample / DUPLEXKIT_JSON, json.dumps(info, indent=1))


def write_item_spec(folder: Path, spec: dict[str, Any]) -> None:
    """``item.json`` beside a ``bench items`` input: the item spec, so an external model's outputs trace back."""
    atomic_write_text(folder / ITEM_JSON, json.dumps(spec, indent=1, sort_keys=True))


def write_gt_distribution(task_dir: Path, gt: dict[str, list[float]]) -> None:
    atomic_write_text(task_dir / GT_DISTRIBUTION_FILE, json.dumps(gt))


def window_distribution(windows: Sequence[tuple[float, float]], duration_s: float) -> np.ndarray:
    """eval_backchannel.py's histogram: ``int(duration / 0.2) + 1`` bins, each window counted in bins
    ``int(start / 0.2) .. int(end / 0.2)`` (those past the end dropped), + epsilon, normalised.  FDB bins the
    model's backchannels so; the exporter bins the ground truth the same way, so the two are comparable."""
    bins = np.zeros(int(duration_s / GT_WINDOW_S) + 1)
    for start, end in windows:
        for i in range(int(start / GT_WINDOW_S), int(end / GT_WINDOW_S) + 1):
            if i < len(bins):
                bins[i] += 1
    return (bins + GT_EPSILON) / np.sum(bins + GT_EPSILON)


# ---------------------------------------------------------------------------------------------- readers


def load_json(path: Path) -> Any:
    """Parsed JSON; :class:`FDBError` naming the file when it is missing, unreadable or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FDBError(path, "missing") from None
    except json.JSONDecodeError as exc:
        raise FDBError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FDBError(path, f"unreadable ({exc})") from None


def _number(value: Any, path: Path, what: str, nullable: bool = False) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FDBError(path, f"{what} must be a finite number, got {value!r}")
    return float(value)


def _timestamp(entry: Any, path: Path, what: str, nullable: bool = False) -> tuple[float | None, float | None]:
    ts = entry.get("timestamp") if isinstance(entry, dict) else None
    if not isinstance(ts, (list, tuple)) or len(ts) != 2:
        raise FDBError(path, f"{what} needs a 'timestamp': [start, end]")
    return _number(ts[0], path, f"{what} start", nullable), _number(ts[1], path, f"{what} end", nullable)


def parse_transcript(data: Any, path: Path) -> Transcript:
    """Validate a transcript (``{"text", "chunks": [{"text", "timestamp": [s, e]}]}``); times may be null."""
    if not isinstance(data, dict) or not isinstance(data.get("chunks"), list):
        raise FDBError(path, "expected an object with a 'chunks' list (FDB's ASR output format)")
    words = []
    for i, chunk in enumerate(data["chunks"]):
        start, end = _timestamp(chunk, path, f"chunks[{i}]", nullable=True)
        text = chunk.get("text", "")
        if not isinstance(text, str):
            raise FDBError(path, f"chunks[{i}].text must be a string")
        words.append(Chunk(text, start, end))
    text = data.get("text", " ".join(w.text for w in words))
    if not isinstance(text, str):
        raise FDBError(path, "'text' must be a string")
    return Transcript(text, tuple(words))


def read_transcript(path: Path) -> Transcript:
    return parse_transcript(load_json(path), path)


def _first_entry(path: Path) -> dict[str, Any]:
    """Element 0 of an annotation list: the only one FDB's scripts read."""
    data = load_json(path)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise FDBError(path, "expected a non-empty list of objects with a 'timestamp'")
    return data[0]


def _first_timestamp(path: Path) -> tuple[float, float]:
    return _timestamp(_first_entry(path), path, f"{path.name}[0]")  # type: ignore[return-value]


def read_pause(sample: Path) -> tuple[float, float]:
    """``pause.json[0]["timestamp"]``: the pause's start and end."""
    return _first_timestamp(sample / PAUSE_JSON)


def read_turn_end(sample: Path) -> float:
    """``turn_taking.json[0]["timestamp"][0]``, which FDB reads as the end of the user's turn."""
    return _first_timestamp(sample / TURN_TAKING_JSON)[0]


def read_interrupt(sample: Path) -> Interrupt:
    """``interrupt.json[0]``: span, context and interrupting text."""
    path = sample / INTERRUPT_JSON
    entry = _first_entry(path)
    start, end = _timestamp(entry, path, f"{path.name}[0]")
    context, interrupt = entry.get("context", ""), entry.get("interrupt", "")
    if not isinstance(context, str) or not isinstance(interrupt, str):
        raise FDBError(path, "'context' and 'interrupt' must be strings")
    return Interrupt(start, end, context, interrupt)  # type: ignore[arg-type]


def read_gt_distribution(path: Path) -> dict[str, list[float]]:
    """``icc_gt_distribution.json``: ``{sample name: [probabilities over 0.2 s windows]}``."""
    data = load_json(path)
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) for v in data.values()
    ):
        raise FDBError(path, "expected {sample name: [non-empty list of numbers]}")
    return {str(k): [float(x) for x in v] for k, v in data.items()}
