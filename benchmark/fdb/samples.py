"""Loading FDB v1 sample directories: what each task's metric reads, checked, with one-line errors naming the file.

The layout (names, JSON shapes, readers) is :mod:`datagen.fdb_layout`; this module adds what the scorer needs on
top: which files a task requires, ``output.wav`` as FDB's ASR step reads it, and the ASR fallback for a missing
``output.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from datagen import fdb_layout as L
from datagen.common.audio import AudioError, read_mono
from datagen.fdb_layout import Chunk, FDBError, Interrupt, Transcript

# The files each task's metric reads (anything else in a sample directory is optional).
TASK_FILES = {
    L.PAUSE_HANDLING: (L.OUTPUT_JSON,),
    L.SMOOTH_TURN_TAKING: (L.OUTPUT_JSON, L.TURN_TAKING_JSON),
    L.USER_INTERRUPTION: (L.OUTPUT_JSON, L.INTERRUPT_JSON),
    L.BACKCHANNEL: (L.OUTPUT_WAV, L.OUTPUT_JSON),
}

# (audio mono float32, sample rate) -> words with times in seconds from the start of that audio
Asr = Callable[[np.ndarray, int], Sequence["Chunk | tuple[str, float, float]"]]


@dataclass
class FDBSample:
    """Everything one FDB sample directory holds that the metrics read (absent files are None)."""

    path: Path
    output: Transcript | None = None
    output_wav: Path | None = None
    input_wav: Path | None = None
    pause: tuple[float, float] | None = None  # pause.json[0]["timestamp"]
    turn_end: float | None = None  # turn_taking.json[0]["timestamp"][0]
    interrupt: Interrupt | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def check_task(task: str | None, flag: str = "") -> None:
    """ValueError for a task name that is not one of FDB v1's four."""
    if task is not None and task not in L.FDB_TASKS:
        raise ValueError(f"{flag}unknown FDB task {task!r} (known: {', '.join(L.FDB_TASKS)})")


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 audio (channels averaged, as FDB's asr.py does) and its rate; FDBError if unreadable."""
    try:
        return read_mono(path)
    except AudioError as exc:
        raise FDBError(path, exc.reason) from None


def _run_asr(asr: Asr, wav: Path, offset_s: float) -> Transcript:
    """Transcribe ``wav`` from ``offset_s`` on and shift times by it, as FDB's get_transcript/asr.py does."""
    audio, sr = read_audio(wav)
    start = int(offset_s * sr)
    words = []
    for w in asr(audio[start:], sr):
        text, s, e = (w.text, w.start, w.end) if isinstance(w, Chunk) else w
        words.append(Chunk(str(text), None if s is None else s + offset_s, None if e is None else e + offset_s))
    return Transcript(" ".join(w.text for w in words), tuple(words))


def read_sample(directory: str | Path, task: str | None = None, asr: Asr | None = None) -> FDBSample:
    """Load one FDB sample directory.

    With ``task``, the files that task's metric needs must be there (a missing one raises :class:`FDBError`);
    without it, whatever is present is loaded.  If ``output.json`` is missing but ``output.wav`` exists, ``asr``
    (if given) transcribes it -- for user interruption only after the interruption's end, as FDB does.
    """
    d = Path(directory)
    if not d.is_dir():
        raise FDBError(d, "not a sample directory")
    check_task(task)
    s = FDBSample(path=d)
    if (d / L.INPUT_WAV).is_file():
        s.input_wav = d / L.INPUT_WAV
    if (d / L.OUTPUT_WAV).is_file():
        s.output_wav = d / L.OUTPUT_WAV
    if (d / L.PAUSE_JSON).exists():
        s.pause = L.read_pause(d)
    if (d / L.TURN_TAKING_JSON).exists() or task == L.SMOOTH_TURN_TAKING:
        s.turn_end = L.read_turn_end(d)
    if (d / L.INTERRUPT_JSON).exists() or task == L.USER_INTERRUPTION:
        s.interrupt = L.read_interrupt(d)
    if (d / L.OUTPUT_JSON).exists():
        s.output = L.read_transcript(d / L.OUTPUT_JSON)
    elif task is not None and L.OUTPUT_JSON in TASK_FILES[task]:
        if asr is not None and s.output_wav is not None:
            offset = s.interrupt.end if task == L.USER_INTERRUPTION and s.interrupt else 0.0
            s.output = _run_asr(asr, s.output_wav, offset)
        elif s.output_wav is not None:
            raise FDBError(
                d / L.OUTPUT_JSON,
                "missing: FDB scores ASR word timestamps of output.wav; run FDB's get_transcript/asr.py or pass --asr",
            )
        else:
            raise FDBError(d / L.OUTPUT_JSON, "missing (and no output.wav to transcribe)")
    if task is not None and L.OUTPUT_WAV in TASK_FILES[task] and s.output_wav is None:
        raise FDBError(d / L.OUTPUT_WAV, "missing")
    return s


def transcribe_task(task: str, root: str | Path, asr: Any) -> list[Path]:
    """Write ``output.json`` from ``output.wav`` in every sample folder of ``root`` as FDB's get_transcript/asr.py
    does: channels averaged; for user interruption only the audio after the interruption's end
    (``interrupt.json[0]["timestamp"][1]``, cropped at ``int(end * sr)``) is transcribed and that offset is added
    back to every time; an existing ``output.json`` is replaced.  ``asr`` is a :mod:`benchmark.asr` backend (or an
    ``(audio, sr) -> words`` callable).  Folders without ``output.wav`` are skipped; returns the files written."""
    check_task(task, "--task: ")
    call = asr.transcribe if hasattr(asr, "transcribe") else asr

    def words(audio: np.ndarray, sr: int) -> list[tuple[str, float, float]]:
        out = []
        for w in call(audio, sr):
            if hasattr(w, "start_s"):
                out.append((w.word, float(w.start_s), float(w.end_s)))
            else:
                out.append(w)
        return out

    written = []
    for d in sample_dirs(root):
        if not (d / L.OUTPUT_WAV).is_file():
            continue
        offset = L.read_interrupt(d).end if task == L.USER_INTERRUPTION else 0.0
        L.write_transcript(d / L.OUTPUT_JSON, _run_asr(words, d / L.OUTPUT_WAV, offset))
        written.append(d / L.OUTPUT_JSON)
    return written


def sample_dirs(root: str | Path) -> list[Path]:
    """The sample folders of a task folder: every non-hidden subdirectory, sorted by name."""
    r = Path(root)
    if not r.is_dir():
        raise FDBError(r, "not a directory (pass the task folder, e.g. .../smooth_turn_taking)")
    dirs = sorted(p for p in r.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not dirs:
        raise FDBError(r, "no sample directories")
    return dirs
