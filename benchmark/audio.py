"""Streaming signal paths of the closed loop: the echo path block by block, and rate conversion for models.

Both are *exact* streaming versions of an offline operation (tests pin it): feeding a signal in 80 ms blocks gives
the same samples as processing it whole, so the closed loop hears a model's voice exactly as
:func:`datagen.acoustics.render_echo` would render it, and a 24 kHz model hears the same mic a 16 kHz one does,
up to the resampler's fixed group delay.
"""

from __future__ import annotations

import math
import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import firwin, lfilter

from datagen.scene import Nonlinearity


class EchoPath:
    """The model's output → its echo at the mic: loudspeaker nonlinearity, system delay, room RIR, gain.

    Overlap-add with the RIR's spectrum computed once: each played block costs one forward and one inverse FFT,
    and its (long, reverberant) tail is added to a fixed buffer of future mic samples.  Silent blocks cost nothing,
    so a silent model adds no echo work to the harness.
    """

    def __init__(self, rir: np.ndarray, delay: int, gain: float, nonlinearity: Nonlinearity | None = None):
        if delay < 0:
            raise ValueError(f"echo delay must be >= 0 samples, got {delay}")
        self.rir = np.asarray(rir, np.float64)
        self.delay = int(delay)
        self.gain = float(gain)
        self.nonlinearity = nonlinearity
        self._spectra: dict[int, tuple[int, np.ndarray]] = {}  # block length -> (FFT size, RIR spectrum)
        self._future = np.zeros(0, np.float64)  # echo samples from the next mic sample on

    def _spectrum(self, n: int) -> tuple[int, np.ndarray]:
        if n not in self._spectra:
            nfft = next_fast_len(n + len(self.rir) - 1, real=True)
            self._spectra[n] = (nfft, np.fft.rfft(self.rir, nfft) * self.gain)
        return self._spectra[n]

    def play(self, block: np.ndarray) -> None:
        """A block that starts playing now (right after the mic samples consumed so far)."""
        if self.gain == 0.0 or not block.any():
            return
        x = block.astype(np.float64)
        if self.nonlinearity is not None:
            x = self.nonlinearity.apply(x)
        nfft, spectrum = self._spectrum(len(x))
        wet = np.fft.irfft(np.fft.rfft(x, nfft) * spectrum, nfft)[: len(x) + len(self.rir) - 1]
        need = self.delay + len(wet)
        if len(self._future) < need:
            grown = np.zeros(need, np.float64)
            grown[: len(self._future)] = self._future
            self._future = grown
        self._future[self.delay : need] += wet

    def take(self, n: int) -> np.ndarray:
        """The echo in the next ``n`` mic samples (consumed)."""
        out = np.zeros(n, np.float32)
        m = min(n, len(self._future))
        if m:
            out[:m] = self._future[:m]
            self._future[:-m] = self._future[m:].copy()
            self._future[-m:] = 0.0
        return out


class StreamResampler:
    """Rational-rate resampling (``up/down``) in blocks, equal to one offline filtering of the whole stream.

    A Kaiser-windowed low-pass FIR on the zero-stuffed signal, run with ``lfilter`` state, then decimated with the
    decimation phase carried across blocks.  Group delay: ``delay_out`` output samples (the FIR's half length).
    """

    def __init__(self, rate_in: int, rate_out: int, taps_per_phase: int = 16):
        g = math.gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self.identity = self.up == self.down == 1
        if self.identity:
            return
        n = taps_per_phase * max(self.up, self.down) | 1
        self.h = (firwin(n, 1.0 / max(self.up, self.down), window=("kaiser", 8.0)) * self.up).astype(np.float64)
        self.zi = np.zeros(len(self.h) - 1)
        self.phase = 0  # index within the upsampled stream of the next sample to keep, modulo block
        self.delay_out = (len(self.h) - 1) // 2 // self.down

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.identity:
            return np.asarray(x, np.float32)
        stuffed = np.zeros(len(x) * self.up)
        stuffed[:: self.up] = x
        y, self.zi = lfilter(self.h, 1.0, stuffed, zi=self.zi)
        out = y[self.phase :: self.down]
        self.phase = (self.phase - len(stuffed)) % self.down
        return out.astype(np.float32)
