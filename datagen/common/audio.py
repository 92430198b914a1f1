"""Audio plumbing: resampling to the corpus rate, FLAC/WAV bytes, reading files as mono 16 kHz float32."""

from __future__ import annotations

import io
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from datagen.common.signals import deferred_interrupts
from datagen.schema import SAMPLE_RATE

FLAC_SUBTYPE = "PCM_16"


class AudioError(ValueError):
    """Audio that cannot be read or decoded; one line naming where it came from (``reason``: the rest of it)."""

    def __init__(self, where: str | Path, reason: str) -> None:
        self.where, self.reason = str(where), reason
        super().__init__(f"{where}: {reason}")


@lru_cache(maxsize=8)
def _filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR ``resample_poly`` designs on every call (Kaiser, beta 5), designed once."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    half_len = 10 * max_rate
    return firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))


def resample(audio: np.ndarray, rate: int, to: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 ``audio`` from ``rate`` to ``to`` Hz (polyphase, exactly ``scipy.signal.resample_poly``'s
    default filter, cached); unchanged (as float32) when the rates agree."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if int(rate) == int(to):
        return audio
    from scipy.signal import resample_poly

    g = math.gcd(int(to), int(rate))
    up, down = int(to) // g, int(rate) // g
    # resample_poly scales the filter it is given in place: hand it a copy of the cached one.
    return resample_poly(audio, up, down, window=_filter(up, down).copy()).astype(np.float32)


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at the corpus rate: how TTS output, ASR and VAD input and replayed model outputs meet it."""
    return resample(audio, sample_rate, SAMPLE_RATE)


def encode_flac(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """FLAC bytes (16-bit) of ``audio`` (mono, or (n, channels)), clipped to [-1, 1]."""
    import soundfile as sf

    buf = io.BytesIO()
    with deferred_interrupts():  # soundfile writes through cffi callbacks: no Ctrl-C inside them
        sf.write(buf, flac16(audio), sample_rate, format="FLAC", subtype=FLAC_SUBTYPE)
    return buf.getvalue()


def flac16(audio: np.ndarray) -> np.ndarray:
    """int16 samples of float ``audio`` clipped to [-1, 1], converted as libsndfile's FLAC writer converts floats
    (scaled by 2**15, rounded half to even, 1.0 clipped to 32767), so handing it these gives the same FLAC bytes
    with ~15-30% less of its CPU time (its float path converts sample by sample)."""
    x = np.asarray(audio)
    x = np.clip(x if x.dtype == np.float64 else x.astype(np.float32, copy=False), -1.0, 1.0)  # a new array
    x *= 32768.0  # exact in either precision: a power of two
    np.rint(x, out=x)
    np.minimum(x, 32767.0, out=x)
    return x.astype("<i2")


def pcm16(audio: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Little-endian int16 samples of float ``audio`` clipped to [-1, 1], converted exactly as libsndfile writes a
    16-bit WAV (scaled to 32 bits, rounded, shifted right by 16), so both give the same bytes; into ``out`` (an
    ``<i2`` array of the same length) when given."""
    # float32 is exact here: scaling by 2**31 only moves the exponent, and 1.0 is clipped to the float just below it
    # (libsndfile clips it to 32767 as well), so every product fits an int32.  In place where possible: these are
    # the generator's largest arrays, and each fresh one costs its page faults.
    x = np.clip(np.asarray(audio, np.float32), np.float32(-1.0), _BELOW_ONE)
    x *= np.float32(2147483648.0)
    np.rint(x, out=x)
    wide = x.astype(np.int32)
    if out is None:
        out = np.empty(len(wide), "<i2")
    return np.right_shift(wide, 16, out=out, casting="unsafe")


_BELOW_ONE = np.nextafter(np.float32(1.0), np.float32(0.0))


def encode_wav(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes | bytearray:
    """16-bit PCM WAV bytes of ``audio``, clipped to [-1, 1] (mono: the same bytes soundfile writes, ~5x faster,
    converted straight into the returned buffer)."""
    import struct

    x = np.asarray(audio)
    if x.ndim == 1:
        size = 2 * len(x)
        fmt = struct.pack("<IHHIIHH", 16, 1, 1, int(sample_rate), int(sample_rate) * 2, 2, 16)
        head = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", size)
        data = bytearray(len(head) + size)
        data[: len(head)] = head
        pcm16(x, out=np.frombuffer(data, "<i2", offset=len(head)))
        return data
    import soundfile as sf

    buf = io.BytesIO()
    with deferred_interrupts():
        sf.write(buf, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def decode_audio(data: bytes, where: str = "audio", sample_rate: int | None = SAMPLE_RATE) -> np.ndarray:
    """Decode encoded audio bytes; ``sample_rate`` (when not None) is required, not converted."""
    import soundfile as sf

    try:
        with deferred_interrupts():
            audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except Exception as exc:  # soundfile raises several types for corrupt data
        raise AudioError(where, f"cannot decode audio ({exc})") from None
    if sample_rate is not None and sr != sample_rate:
        raise AudioError(where, f"sample rate {sr}, expected {sample_rate}")
    return audio


def read_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """(mono float32 samples, rate) of an audio file, channels averaged; AudioError ``missing`` or
    ``unreadable audio (...)`` naming the file."""
    import soundfile as sf

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise AudioError(path, "missing") from None
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:
        raise AudioError(path, f"unreadable audio ({exc})") from None
    return audio.mean(axis=1).astype(np.float32), int(rate)
