"""Room convolution of mostly-silent dry tracks."""

from __future__ import annotations

import numpy as np
from scipy.signal import oaconvolve

SPARSE_BLOCK = 1600  # 100 ms: the grain at which silent stretches of a dry track are skipped


def active_runs(x: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """Sample ranges of ``x`` that hold sound, on a 100 ms grid, merging runs closer than ``min_gap``."""
    n_blocks = -(-len(x) // SPARSE_BLOCK)
    padded = np.zeros(n_blocks * SPARSE_BLOCK, x.dtype)
    padded[: len(x)] = x
    active = np.flatnonzero(padded.reshape(n_blocks, SPARSE_BLOCK).any(axis=1))
    runs: list[list[int]] = []
    for b in active:
        s, e = int(b) * SPARSE_BLOCK, min((int(b) + 1) * SPARSE_BLOCK, len(x))
        if runs and s - runs[-1][1] < min_gap:
            runs[-1][1] = e
        else:
            runs.append([s, e])
    return [(s, e) for s, e in runs]


def convolve(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Room convolution, cut to the input length (so every stem has the channel's length).

    Dry tracks are mostly silence (a third speaker talks for seconds in a minute), so only the stretches that hold
    sound are convolved, each with its full reverberant tail; the sum equals the convolution of the whole track.
    """
    n = len(x)
    out = np.zeros(n, np.float32)
    for s, e in active_runs(x, min_gap=len(rir)):
        wet = oaconvolve(x[s:e], rir)
        stop = min(n, s + len(wet))
        out[s:stop] += wet[: stop - s]
    return out
