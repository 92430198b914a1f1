"""Noise: the stationary floor (white, pink, brown, mains hum) and short non-speech bursts."""

from __future__ import annotations

import numpy as np

from datagen.schema import SAMPLE_RATE, seconds_to_samples

# Paul Kellet's economy pink-noise filter (-3 dB/octave within 0.5 dB over the audio band) and a leaky integrator
# for brown noise (-6 dB/octave above ~13 Hz): IIR filters on white noise, linear in time, no long FFTs.
_PINK = ([0.049922035, -0.095993537, 0.050612699, -0.004408786], [1.0, -2.494956002, 2.017265875, -0.522189400])
_BROWN = ([1.0], [1.0, -0.995])


def colored_noise(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """Stationary noise of unit RMS: white, pink (1/f), brown (1/f^2) or mains hum with harmonics."""
    from scipy.signal import lfilter

    if kind == "hum":
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        phases = rng.uniform(0, 2 * np.pi, 4)
        # The harmonics repeat every 320 samples at 50 Hz (800 at 60 Hz): one period, tiled.
        period = 320 if f0 == 50.0 else 800
        t = np.arange(period, dtype=np.float64) / SAMPLE_RATE
        one = sum((0.5**k) * np.sin(2 * np.pi * f0 * (k + 1) * t + phases[k]) for k in range(4))
        x = np.tile(one, -(-n // period))[:n] + 0.05 * rng.standard_normal(n)
    else:
        x = rng.standard_normal(n)
        if kind == "pink":
            x = lfilter(*_PINK, x)
        elif kind == "brown":
            x = lfilter(*_BROWN, x)
    x = np.asarray(x, dtype=np.float64)
    rms = np.sqrt(np.mean(x**2)) or 1.0
    return (x / rms).astype(np.float32)


def random_noise_burst(rng: np.random.Generator) -> np.ndarray:
    """A short non-speech event (door slam, knock, clatter, beep) of unit peak, 0.15-1.2 s long."""
    kind = int(rng.integers(4))
    n = seconds_to_samples(float(rng.uniform(0.15, 1.2)))
    t = np.arange(n) / SAMPLE_RATE
    if kind == 0:  # slam: broadband noise with a fast attack and exponential decay
        x = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.05, 0.25))
    elif kind == 1:  # knocks: a few short decaying low-frequency pulses
        x = np.zeros(n)
        period = seconds_to_samples(float(rng.uniform(0.12, 0.25)))
        f = rng.uniform(120, 400)
        for start in range(0, n, period):
            m = min(n - start, period)
            tt = np.arange(m) / SAMPLE_RATE
            x[start : start + m] += np.sin(2 * np.pi * f * tt) * np.exp(-tt / 0.02)
    elif kind == 2:  # clatter: sparse random clicks filtered bright
        x = np.where(rng.random(n) < 0.01, rng.standard_normal(n), 0.0)
        x = np.convolve(x, np.exp(-np.arange(80) / 10.0), mode="same")
    else:  # beep: a device tone
        x = np.sin(2 * np.pi * rng.uniform(600, 2500) * t)
        ramp = min(160, n // 4)
        x[:ramp] *= np.linspace(0, 1, ramp)
        x[-ramp:] *= np.linspace(1, 0, ramp)
    peak = np.abs(x).max() or 1.0
    return (x / peak).astype(np.float32)
