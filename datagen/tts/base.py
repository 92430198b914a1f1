"""The TTS contract: what the generator needs from any voice (named voices, ``synthesize`` with word timings), so
backends can be swapped without the planner or the renderer knowing which one spoke."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from datagen.common.errors import DuplexkitError, one_line
from datagen.schema import Word


class BackendUnavailable(DuplexkitError, RuntimeError):
    """An optional backend whose package or files are missing (one line saying what to install or provide)."""


@dataclass
class Utterance:
    """Speech ready for the timeline: trimmed, level-normalised, and timed word by word on the sample grid."""

    text: str
    audio: np.ndarray  # float32, 16 kHz, read-only
    words: list[Word]  # sample offsets within ``audio``
    voice: str


class TTSBackend(ABC):
    """Named voices and ``synthesize`` with word timings.

    ``cpu_seconds`` accumulates the process CPU time (``time.process_time``) spent synthesising (the generator
    reports it).  An unknown voice raises ``ValueError("unknown voice 'x' for backend <name> ... (known: ...)")`` on
    one line.
    """

    name: str = "base"
    cpu_seconds: float = 0.0

    @abstractmethod
    def voices(self) -> list[str]:
        """Voice names this backend offers (for espeak: the built-in pools)."""

    @abstractmethod
    def synthesize(self, text: str, voice: str) -> Utterance:
        """``text`` spoken by ``voice``: trimmed, level-normalised 16 kHz audio and one Word per token."""


def error_text(exc: BaseException) -> str:
    """``"Type: first line"`` of an error a backend reports as a reason (the type says which library failed)."""
    return f"{type(exc).__name__}: {one_line(exc)}" if str(exc).strip() else type(exc).__name__
