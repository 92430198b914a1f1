"""Real recordings as a TTS: takes listed in a JSONL manifest (path, transcript, speaker, optional word times),
looked up by normalised transcript, with an espeak fallback for lines nobody recorded (format: ``docs/tts.md``)."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from datagen.common.audio import to_16k
from datagen.schema import seconds_to_samples
from datagen.tts.base import TTSBackend, Utterance, error_text
from datagen.tts.espeak import USER_VOICES, EspeakBackend
from datagen.tts.postprocess import even_starts, finish, tokens

_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")
_NON_WORD = re.compile(r"[^\w\s]+|_")


def normalize_transcript(text: str) -> str:
    """Lower case, apostrophes dropped ("it's" -> "its"), other punctuation as spaces, whitespace collapsed."""
    return " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", text.lower())).split())


class RecordingsBackend(TTSBackend):
    """The recordings of ``manifest``, all loaded and checked at construction.

    Broken entries are skipped and listed in :attr:`skipped`, one reason each (ValueError if none is usable); a
    line nobody recorded is spoken by ``fallback`` (default: an :class:`EspeakBackend`) in a user voice fixed per
    speaker and counted in :attr:`fallbacks`.
    """

    name = "recordings"

    def __init__(self, manifest: str, fallback: TTSBackend | None = None) -> None:
        import soundfile as sf

        self.manifest = Path(manifest)
        self.cpu_seconds = 0.0
        self.skipped: list[str] = []
        self.fallbacks = 0
        self._fallback = fallback
        self._by_text: dict[str, dict[str, Utterance]] = {}
        try:
            lines = self.manifest.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else error_text(exc)
            raise ValueError(f"{self.manifest}: cannot read recordings manifest ({reason})") from None
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise TypeError("not a JSON object")
                missing = [k for k in ("path", "text") if k not in entry]
                if missing:
                    raise KeyError(", ".join(missing))
                raw_path, text = entry["path"], entry["text"]
                speaker = entry.get("speaker", "speaker")
                if not isinstance(raw_path, str) or not raw_path:
                    raise TypeError("'path' must be a non-empty string")
                if not isinstance(text, str) or not tokens(text):
                    raise TypeError("'text' must be a non-empty string")
                if not isinstance(speaker, str) or not speaker:
                    raise TypeError("'speaker' must be a non-empty string")
            except json.JSONDecodeError as exc:
                self.skipped.append(f"line {lineno}: bad JSON ({exc.msg})")
                continue
            except KeyError as exc:
                self.skipped.append(f"line {lineno}: missing field {exc.args[0]}")
                continue
            except TypeError as exc:
                self.skipped.append(f"line {lineno}: bad entry ({exc})")
                continue
            where = f"line {lineno}: {raw_path}"
            path = Path(raw_path).expanduser()
            path = path if path.is_absolute() else self.manifest.parent / path
            if not path.is_file():
                self.skipped.append(f"{where}: missing file")
                continue
            try:  # soundfile directly, not datagen.common.audio.read_audio: the skip reason keeps its own wording
                wav, rate = sf.read(str(path), dtype="float32", always_2d=True)
            except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError...
                self.skipped.append(f"{where}: corrupt audio ({error_text(exc)})")
                continue
            try:
                utt = self._prepare(text, speaker, wav, int(rate), entry.get("words"))
            except ValueError as exc:
                self.skipped.append(f"{where}: {exc}")
                continue
            self._by_text.setdefault(normalize_transcript(text), {}).setdefault(speaker, utt)  # first take wins
        if not self._by_text:
            raise ValueError(
                f"{self.manifest}: no usable recordings ({len(self.skipped)} entries skipped"
                + (f"; first: {self.skipped[0]})" if self.skipped else ")")
            )
        self._speakers = sorted({s for by in self._by_text.values() for s in by})

    @staticmethod
    def _prepare(text: str, speaker: str, wav: np.ndarray, rate: int, words: Any) -> Utterance:
        if wav.size == 0:
            raise ValueError("empty audio")
        if not np.isfinite(wav).all():
            raise ValueError("audio has NaN or infinite samples")
        mono = wav.mean(axis=1, dtype=np.float32) if wav.shape[1] > 1 else wav[:, 0]
        audio = to_16k(mono, rate)
        if words is None:
            return finish(text, audio, even_starts(text, audio), speaker)
        n = len(tokens(text))
        try:
            spans = [(float(w["start"]), float(w["end"])) for w in words]
        except (TypeError, KeyError, ValueError):
            raise ValueError("'words' must be a list of {text, start, end} (seconds)") from None
        if len(spans) != n:
            raise ValueError(f"'words' has {len(spans)} entries for the {n} words of the transcript")
        flat = [t for span in spans for t in span]
        if not all(math.isfinite(t) and t >= 0 for t in flat) or any(b < a for a, b in zip(flat, flat[1:])):
            raise ValueError("'words' times must be finite, non-negative and in order")
        return finish(
            text,
            audio,
            [seconds_to_samples(a) for a, _ in spans],
            speaker,
            ends=[seconds_to_samples(b) for _, b in spans],
        )

    def voices(self) -> list[str]:
        return list(self._speakers)

    def synthesize(self, text: str, voice: str) -> Utterance:
        """The take of ``voice`` (else of the first speaker, sorted, who said it); else the fallback's speech."""
        if voice not in self._speakers:
            raise ValueError(f"unknown voice {voice!r} for backend recordings (known: {', '.join(self._speakers)})")
        found = self._by_text.get(normalize_transcript(text))
        if found:
            return found.get(voice) or found[min(found)]
        self.fallbacks += 1
        if self._fallback is None:
            self._fallback = EspeakBackend()
        offered = set(self._fallback.voices())
        pool = [v for v in USER_VOICES if v in offered] or sorted(offered)  # espeak: the user voices
        fallback_voice = pool[self._speakers.index(voice) % len(pool)]  # fixed per speaker, no hashing
        t0 = time.process_time()
        utt = self._fallback.synthesize(text, fallback_voice)
        self.cpu_seconds += time.process_time() - t0
        return Utterance(utt.text, utt.audio, utt.words, voice)
