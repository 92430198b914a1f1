"""Optional ASR: a Whisper-style model through transformers' ASR pipeline, loaded only from a local directory
(nothing is downloaded; a missing package or path is a one-line RuntimeError)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmark.asr import WordTiming
from benchmark.asr.text import spoken_words
from datagen.common.audio import to_16k
from datagen.common.errors import one_line
from datagen.schema import SAMPLE_RATE


class WhisperASR:
    """Word timings from the pipeline's word chunks, words normalised by :func:`~benchmark.asr.text.spoken_words`."""

    name = "whisper"

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu") -> None:
        if not model_path or not Path(model_path).is_dir():
            raise RuntimeError(f"whisper ASR needs local weights: model_path={model_path!r} is not a directory")
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            from transformers import pipeline
        except ImportError:
            raise RuntimeError("whisper ASR needs transformers: pip install transformers") from None
        try:
            self._pipe = pipeline("automatic-speech-recognition", model=str(model_path), device=device,
                                  model_kwargs={"local_files_only": True})
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"whisper ASR: cannot load {model_path}: {one_line(exc)}") from None

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[WordTiming]:
        x = to_16k(audio, sample_rate)
        out = self._pipe({"raw": x, "sampling_rate": SAMPLE_RATE}, return_timestamps="word")
        words = []
        for chunk in out.get("chunks") or []:
            start, end = chunk.get("timestamp") or (None, None)
            for w in spoken_words(chunk.get("text", "")):
                s = float(start or 0.0)
                words.append(WordTiming(w, s, float(end) if end is not None else s))
        return words
