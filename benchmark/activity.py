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


@lru_cache(maxsize=None)
def _silero(purpose: str = "segments"):
    """One silero instance per purpose: streaming onset detection keeps recurrent state that must not mix with
    offline segmenting (which resets it)."""
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


class SpeechOnset:
    """The first speech onset in a stream of played blocks, by the same silero-vad (streaming over 512-sample
    chunks): the start of the first run of chunks at or above ``threshold`` lasting ``min_speech_ms`` (silero's
    own minimum speech, 250 ms).  The harness anchors reactive probes on it, so a model whose output is sound but
    not speech (hum, clicks, an untrained vocoder's noise) does not trigger a probe the metrics would then score
    against silence.  All-zero blocks are not run through the network (they are never speech)."""

    CHUNK = 512

    def __init__(self, threshold: float = 0.5, min_speech_ms: int = 250):
        self.model = _silero("stream")
        self.model.reset_states()
        self.threshold = threshold
        self.min_chunks = -(-min_speech_ms * SAMPLE_RATE // 1000 // self.CHUNK)
        self._buf = np.zeros(0, np.float32)
        self._next = 0  # stream sample of the buffer's first sample
        self._run_start: int | None = None
        self._run = 0

    def feed(self, block: np.ndarray, at: int) -> int | None:
        """``block`` plays from stream sample ``at`` (contiguous with the previous one); returns the onset sample
        once speech has been confirmed, else None."""
        if not len(self._buf):
            self._next = at
        if not block.any():
            self._buf, self._run, self._run_start = np.zeros(0, np.float32), 0, None
            return None
        import torch

        self._buf = np.concatenate([self._buf, block.astype(np.float32)])
        n = len(self._buf) // self.CHUNK * self.CHUNK
        for i in range(0, n, self.CHUNK):
            prob = float(self.model(torch.from_numpy(self._buf[i : i + self.CHUNK].copy()), SAMPLE_RATE).item())
            if prob >= self.threshold:
                if self._run_start is None:
                    self._run_start = self._next + i
                self._run += 1
                if self._run >= self.min_chunks:
                    return self._run_start
            else:
                self._run, self._run_start = 0, None
        self._buf, self._next = self._buf[n:], self._next + n
        return None
