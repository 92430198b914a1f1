"""The default TTS: espeak-ng voices named ``"<espeak voice>[+<variant>][:p<pitch>][:r<rate>]"`` (e.g.
``"en-us+f3:p60:r170"``), the voice pools the generator draws from, and word starts from espeak's WORD events
(~500x real time per core; the same (text, voice) gives the same bytes in any process: ``docs/tts.md``)."""

from __future__ import annotations

import bisect
import re
import time
from dataclasses import dataclass

import numpy as np

from datagen.common.audio import to_16k
from datagen.schema import SAMPLE_RATE
from datagen.tts.base import TTSBackend, Utterance
from datagen.tts.espeak_binding import EspeakEngine
from datagen.tts.postprocess import even_starts, finish, tokens

# Voice pools (all exist in espeak-ng's shipped data; checked at first use).  Users: mixed accents, sexes,
# pitches and rates; the assistant: one fixed voice that no user shares; third speakers: distinct from both.
USER_VOICES: tuple[str, ...] = (
    "en-us+m3:p45:r165",
    "en-us+f3:p62:r170",
    "en+m1:p38:r155",
    "en+f4:p70:r160",
    "en-gb-x-rp+m7:p50:r175",
    "en-gb-x-rp+f1:p58:r165",
    "en-gb-x-gbcwmd+m2:p42:r160",
    "en-us+f5:p66:r185",
    "en-029+m4:p48:r170",
    "en-us-nyc+f2:p55:r180",
    "en+m6:p35:r150",
    "en-gb-x-gbclan+f3:p60:r168",
)
ASSISTANT_VOICE = "en-us+f2:p52:r175"
THIRD_VOICES: tuple[str, ...] = (
    "en+m5:p40:r172",
    "en-us+f1:p68:r178",
    "en-gb-x-rp+m2:p44:r158",
    "en-us-nyc+m8:p50:r182",
)

_VOICE_RE = re.compile(
    r"^(?P<base>[A-Za-z0-9][A-Za-z0-9_/-]*)(\+(?P<variant>[A-Za-z0-9_]+))?(:p(?P<pitch>\d+))?(:r(?P<rate>\d+))?$"
)


@dataclass(frozen=True)
class EspeakVoice:
    """A parsed voice name ``"<espeak voice>[+<variant>][:p<pitch 0-100>][:r<rate wpm>]"``."""

    base: str
    variant: str | None
    pitch: int
    rate: int

    @classmethod
    def parse(cls, name: str) -> "EspeakVoice":
        m = _VOICE_RE.match(name) if isinstance(name, str) else None
        if not m:
            raise ValueError("malformed name (expected e.g. 'en-us+f3:p60:r170')")
        pitch = int(m["pitch"] or 50)
        rate = int(m["rate"] or 175)
        if not (0 <= pitch <= 100 and 80 <= rate <= 450):
            raise ValueError("pitch must be 0-100 and rate 80-450 wpm")
        return cls(m["base"], m["variant"], pitch, rate)


class EspeakBackend(TTSBackend):
    """espeak-ng voices; word starts from espeak's WORD events.

    :meth:`voices` lists the built-in pools; any well-formed name whose espeak voice and variant exist in the
    shipped data is accepted too (checked once per name).
    """

    name = "espeak"

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self._checked: dict[str, EspeakVoice] = {}

    def voices(self) -> list[str]:
        return list(dict.fromkeys(USER_VOICES + THIRD_VOICES + (ASSISTANT_VOICE,)))

    def cache_key(self) -> dict:
        """What the audio depends on besides (text, voice): the espeak-ng build (the on-disk cache's key)."""
        import importlib.metadata as md

        try:
            version = md.version("espeakng-loader")
        except md.PackageNotFoundError:
            version = "?"
        return {"backend": self.name, "version": f"espeakng-loader {version}"}

    def _voice(self, name: str) -> EspeakVoice:
        voice = self._checked.get(name)
        if voice is None:
            try:
                voice = EspeakVoice.parse(name)
                EspeakEngine.get().resolve(voice.base, voice.variant)
            except ValueError as exc:
                raise ValueError(
                    f"unknown voice {name!r} for backend espeak: {exc} (known: {', '.join(self.voices())})"
                ) from None
            self._checked[name] = voice
        return voice

    def synthesize(self, text: str, voice: str) -> Utterance:
        v = self._voice(voice)
        if not tokens(text):
            raise ValueError(f"nothing to say: {text!r}")
        t0 = time.process_time()
        engine = EspeakEngine.get()
        pcm, events = engine.synth(text, v.base, v.variant, rate=v.rate, pitch=v.pitch)
        audio = to_16k(pcm.astype(np.float32) * np.float32(1 / 32768), engine.rate)
        if not audio.any():
            raise ValueError(f"espeak-ng produced no speech for {text!r}")
        starts = align_events(text, events, engine.rate)
        try:
            utt = finish(text, audio, even_starts(text, audio) if starts is None else starts, voice)
        except ValueError as exc:
            raise ValueError(f"espeak-ng produced no usable speech for {text!r} ({exc})") from None
        self.cpu_seconds += time.process_time() - t0
        return utt


def align_events(text: str, events: list[tuple[int, int]], native_rate: int) -> list[int] | None:
    """One start sample (16 kHz) per token: espeak WORD events mapped by character position onto the tokens.

    espeak may emit several events per token (hyphenated words, numbers read as several words) or none (pure
    punctuation, the second word of a dictionary phrase): the earliest event inside a token wins (an event on the
    space before a token belongs to it); tokens without one get a start interpolated by character offset between
    their neighbours.  None when no event fell on any token.
    """
    toks = tokens(text)
    tok_starts = [a for _, a, _ in toks]
    starts: list[float | None] = [None] * len(toks)
    scale = SAMPLE_RATE / native_rate
    for pos, sample in events:
        char = pos - 1  # espeak's text positions are 1-based
        i = max(0, bisect.bisect_right(tok_starts, char) - 1)
        if char >= toks[i][2] and i + 1 < len(toks):
            i += 1
        s = sample * scale
        if starts[i] is None or s < starts[i]:  # type: ignore[operator]
            starts[i] = s
    known = [i for i, s in enumerate(starts) if s is not None]
    if not known:
        return None
    filled = np.interp(tok_starts, [tok_starts[i] for i in known], [starts[i] for i in known])  # type: ignore[misc]
    return [int(round(x)) for x in np.maximum.accumulate(filled)]
