"""The ``files`` adapter: replay outputs an external model already produced, in Full-Duplex-Bench layout.

Why: models we cannot run in process (commercial APIs, other groups' checkpoints) are still benchmarked by FDB's
recipe -- run them on ``input.wav`` offline, keep ``<root>/<item_id>/output.wav`` -- and this adapter feeds those
outputs through the same harness (same VAD, same ASR, same metrics) as a live model.  It is open loop by nature:
the mic blocks it is given are ignored, so closed-loop scenarios scored with it measure a model that cannot react.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.fdb.samples import read_audio
from benchmark.protocol import ModelInfo, SessionInfo, StepOutput
from datagen.common.audio import to_16k
from datagen.fdb_layout import OUTPUT_WAV
from datagen.schema import BLOCK_SAMPLES as BLOCK
from datagen.schema import SAMPLE_RATE


def load_output_wav(path: Path) -> np.ndarray:
    """``output.wav`` as mono float32 at 16 kHz (channels averaged; other rates resampled with resample_poly)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (the files model needs the external model's output.wav there)")
    audio, sr = read_audio(path)  # FDB's reading: channels averaged; FDBError (a ValueError) when unreadable
    return np.nan_to_num(to_16k(audio, sr))


class FilesSession:
    """Plays one ``output.wav`` back, one 1280-sample block per step, then zeros."""

    def __init__(self, audio: np.ndarray) -> None:
        self._audio = audio
        self._pos = 0

    def step(self, mic_block: np.ndarray) -> StepOutput:
        out = np.zeros(BLOCK, np.float32)
        chunk = self._audio[self._pos : self._pos + BLOCK]
        out[: len(chunk)] = chunk
        self._pos += BLOCK
        return StepOutput(audio=out)

    def close(self) -> None:
        self._audio = np.zeros(0, np.float32)


class FilesModel:
    """Replays ``root/<item_id>/output.wav`` (FDB layout) for each session."""

    def __init__(self, root: str, **_: Any) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"files: root {str(root)!r} is not a folder of <item id>/{OUTPUT_WAV} "
                                    "(write one with `duplexkit bench items`, then run the model on each input)")
        self.info = ModelInfo(name="files", sample_rate=SAMPLE_RATE, block_samples=BLOCK, text=False, state=False)

    def open_session(self, info: SessionInfo) -> FilesSession:
        return FilesSession(load_output_wav(self.root / info.item_id / OUTPUT_WAV))
