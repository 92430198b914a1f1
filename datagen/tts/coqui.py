"""Optional TTS: Coqui (``pip install 'duplexkit[coqui]'``) from local model files only (nothing downloaded).
Coqui gives no word timings, so word starts are spread over the voiced span by word length; ends follow energy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from datagen.common.audio import to_16k
from datagen.tts.base import BackendUnavailable, TTSBackend, Utterance, error_text
from datagen.tts.postprocess import even_starts, finish


class CoquiBackend(TTSBackend):
    """Coqui TTS voices (its speakers, or ``"default"``); :class:`BackendUnavailable` saying what is missing."""

    name = "coqui"

    def __init__(
        self,
        model_path: str = "",
        config_path: str = "",
        speakers: Sequence[str] | None = None,
        device: str = "cpu",
    ) -> None:
        prefix = "coqui TTS backend is unavailable"
        try:
            from TTS.api import TTS  # type: ignore[import-not-found]
        except ImportError:
            raise BackendUnavailable(
                f"{prefix}: package 'TTS' is not installed (pip install 'duplexkit[coqui]'); "
                "it also needs local model files (tts.model_path, tts.config_path)"
            ) from None
        except Exception as exc:  # installed but broken (e.g. a torch mismatch)
            raise BackendUnavailable(f"{prefix}: importing package 'TTS' failed ({error_text(exc)})") from None
        for key, path in (("model_path", model_path), ("config_path", config_path)):
            if not path or not Path(path).is_file():
                raise BackendUnavailable(f"{prefix}: tts.{key} {str(path)!r} is not a file (local model files only)")
        self.cpu_seconds = 0.0
        try:
            self.tts = TTS(model_path=str(model_path), config_path=str(config_path)).to(device)
            self.sample_rate = int(self.tts.synthesizer.output_sample_rate)
        except Exception as exc:
            raise BackendUnavailable(f"{prefix}: cannot load {model_path} ({error_text(exc)})") from None
        self._speakers = list(speakers or getattr(self.tts, "speakers", None) or ["default"])

    def voices(self) -> list[str]:
        return list(self._speakers)

    def synthesize(self, text: str, voice: str) -> Utterance:
        if voice not in self._speakers:
            raise ValueError(f"unknown voice {voice!r} for backend coqui (known: {', '.join(self._speakers)})")
        t0 = time.process_time()
        kwargs = {} if voice == "default" else {"speaker": voice}
        wav = np.asarray(self.tts.tts(text, **kwargs), np.float32)
        audio = to_16k(wav, self.sample_rate)
        utt = finish(text, audio, even_starts(text, audio), voice)
        self.cpu_seconds += time.process_time() - t0
        return utt
