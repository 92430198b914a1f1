"""Voices: the TTS interface and its backends, with word timings on the 16 kHz sample grid (reference:
``docs/tts.md``).

``base``            the contract: :class:`TTSBackend`, :class:`Utterance`, :class:`BackendUnavailable`
``postprocess``     what every backend shares: tokens, word ends from energy, trimming, level normalisation
``espeak_binding``  espeak-ng in process through ctypes (:class:`EspeakEngine`: synthesis and phonemes)
``espeak``          the default backend, its voice names and the voice pools (users, assistant, third speakers)
``piper``           the default assistant voice: Piper's en_US-joe-medium, deterministic by (seed, utterance)
``coqui``           optional Coqui TTS from local model files
``recordings``      real recordings from a manifest, with a TTS fallback
``cache``           :class:`CachedTTS`, an LRU and a persistent on-disk cache over any backend

Backends are created by name (:func:`get_backend`); their modules are imported on first use.
"""

from __future__ import annotations

import inspect
from typing import Any

from datagen.common.registry import Registry
from datagen.tts.base import BackendUnavailable, TTSBackend, Utterance
from datagen.tts.cache import CachedTTS
from datagen.tts.espeak import ASSISTANT_VOICE, THIRD_VOICES, USER_VOICES, EspeakVoice

__all__ = [
    "ASSISTANT_VOICE", "BACKENDS", "BackendUnavailable", "CachedTTS", "EspeakVoice", "THIRD_VOICES", "TTSBackend",
    "USER_VOICES", "Utterance", "get_backend",
]

_ENTRIES = {  # in the order error messages list them
    "espeak": "datagen.tts.espeak:EspeakBackend",
    "piper": "datagen.tts.piper:PiperBackend",
    "coqui": "datagen.tts.coqui:CoquiBackend",
    "recordings": "datagen.tts.recordings:RecordingsBackend",
}
BACKENDS: Registry[TTSBackend] = Registry("TTS backend", _ENTRIES, where="tts.backend", missing=BackendUnavailable)


def get_backend(name: str, **options: Any) -> TTSBackend:
    """The backend ``name`` built with ``options`` (its constructor's keywords); ValueError naming an unknown
    backend or option, so a config typo fails on one line."""
    cls = BACKENDS.resolve(name)
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"tts: unknown option {unknown[0]!r} for backend {name} (known: {known})")
    return cls(**options)
