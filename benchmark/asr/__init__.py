"""The benchmark's pluggable ASR: ``transcribe(audio, sample_rate=16000) -> [WordTiming(word, start_s, end_s)]``,
by name through :func:`get_asr` (measured accuracy and speed: ``docs/asr.md``).

``text``          spoken-word normalisation and WER (digits and number words agree)
``lm``            the bank vocabulary, CMU dictionary, espeak g2p, trigram LM building (cached, deterministic)
``pocketsphinx``  the default backend (offline, ships its en-us acoustic model), optionally with the bank LM
``whisper``       a Whisper-style model through transformers, from a local directory only
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
    "pocketsphinx": "benchmark.asr.pocketsphinx:PocketsphinxASR",
    "whisper": "benchmark.asr.whisper:WhisperASR",
})


def available() -> list[str]:
    return sorted(REGISTRY.names())


def get_asr(name: str = "pocketsphinx", **opts: Any) -> ASR:
    """An ASR backend by name: ``get_asr("pocketsphinx", vocabulary_texts="default")``,
    ``get_asr("whisper", model_path="/models/whisper-small")``; ValueError for an unknown name."""
    return REGISTRY.create(name, **opts)


def transcript(words: Sequence[WordTiming]) -> str:
    return " ".join(w.word for w in words)
