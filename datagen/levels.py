"""Signal levels the voices and the room share: every utterance leaves TTS at :data:`SPEECH_RMS` (active speech),
and the room puts the user stem at that level at the mic; other sources are set relative to it."""

from __future__ import annotations

import numpy as np

SPEECH_RMS = 0.05  # active-speech RMS (about -26 dBFS) of every utterance and of the user stem at the mic
ACTIVE_FLOOR_DB = -40.0  # a 10 ms frame is active speech when within this of the loudest frame
LEVEL_FRAME = 160  # 10 ms


def active_rms(x: np.ndarray, frame: int = LEVEL_FRAME, floor_db: float = ACTIVE_FLOOR_DB) -> float:
    """RMS over the 10 ms frames within ``floor_db`` of the loudest one (speech level, silences excluded)."""
    n = len(x) // frame
    if n == 0:
        return 0.0
    power = np.square(x[: n * frame].astype(np.float64)).reshape(n, frame).mean(axis=1)
    peak = power.max()
    if peak <= 0:
        return 0.0
    active = power[power >= peak * 10 ** (floor_db / 10)]
    return float(np.sqrt(active.mean()))


def db_to_gain(level_db: float) -> float:
    """Amplitude factor of a level in dB."""
    return float(10 ** (level_db / 20))
