"""The model's speech activity, measured from the audio it played with one VAD for every model (silero-vad).

Measuring from audio (not from a model's own state tokens) keeps the comparison fair: a cascade, SALMONN-omni and a
file of pre-rendered outputs are all judged by the same detector.  silero-vad runs on ONNX (5x faster than its
torch path, ARCHITECTURE.md); all-zero audio is answered without running it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from datagen.schema import SAMPLE_RATE

Span = tuple[int, int]


@lru_cache(maxsize=1)
def _silero():
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=True)


def speech_segments(audio: np.ndarray, threshold: float = 0.5) -> list[Span]:
    """Speech spans (samples) in 16 kHz ``audio`` as silero-vad finds them (its default 250 ms minimum speech)."""
    audio = np.asarray(audio, np.float32)
    if not audio.any():
        return []
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(audio)), _silero(),
                                   sampling_rate=SAMPLE_RATE, threshold=threshold)
    return [(int(s["start"]), int(s["end"])) for s in stamps]


def merge(spans: list[Span], max_gap: int) -> list[Span]:
    """Join spans separated by less than ``max_gap`` samples (speech with short pauses is one burst)."""
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s - out[-1][1] < max_gap:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]
