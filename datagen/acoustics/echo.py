"""The echo path: the assistant's sound at the mic (loudspeaker nonlinearity, playback delay, loudspeaker->mic RIR)
and the gain that puts it at the scene's signal-to-echo ratio.

The generator renders the echo stem here; the benchmark's closed loop streams the same path block by block
(:class:`benchmark.audio.EchoPath`, pinned equal to :func:`render_echo` by a test) with the gain the corpus recorded.
"""

from __future__ import annotations

import numpy as np

from datagen.acoustics.rooms import RIRBank
from datagen.acoustics.signals import convolve
from datagen.levels import SPEECH_RMS, db_to_gain
from datagen.scene import Scene


def echo_gain_for_ser(unit_echo_level: float, ser_db: float) -> float:
    """The gain that puts an echo whose active level is ``unit_echo_level`` (at gain 1) ``ser_db`` below the user
    (at :data:`SPEECH_RMS`); 0 for a silent echo."""
    return SPEECH_RMS / db_to_gain(ser_db) / unit_echo_level if unit_echo_level > 0 else 0.0


def render_echo(assistant: np.ndarray, scene: Scene, bank: RIRBank, gain: float) -> np.ndarray:
    """The assistant's sound at the mic: loudspeaker nonlinearity, system delay, loudspeaker->mic RIR, ``gain``.

    The generator calls it at gain 1 to measure the echo's level, then with the SER's gain; the benchmark's
    offline checks call it with the gain a scene recorded (``scene.echo.gain``).
    """
    n = len(assistant)
    if gain == 0.0 or not assistant.any():
        return np.zeros(n, np.float32)
    x = assistant.astype(np.float32)
    if scene.echo.nonlinearity is not None:
        x = scene.echo.nonlinearity.apply(x).astype(np.float32)
    delay = int(scene.echo.system_delay_samples)
    delayed = np.zeros(n, np.float32)
    if delay < n:
        delayed[delay:] = x[: n - delay]
    rir = bank.room_of(scene).rirs["loudspeaker"]
    return (convolve(delayed, rir) * np.float32(gain)).astype(np.float32)


def unit_echo_gain(scene: Scene, assistant: np.ndarray, bank: RIRBank) -> float:
    """The echo's gain at ``echo_factor`` 1 for this scene: the recorded gain divided by the scene's factor, or
    (a corpus rendered without echo) recomputed from the SER exactly as the mix sets it."""
    factor = float(scene.echo.echo_factor)
    if factor > 0 and scene.echo.gain is not None:
        return float(scene.echo.gain) / factor
    from datagen.levels import active_rms

    scale = float(scene.gains.mic_scale) if scene.gains is not None else 1.0
    return echo_gain_for_ser(active_rms(render_echo(assistant, scene, bank, 1.0)), scene.echo.ser_db) * scale
