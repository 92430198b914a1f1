"""Voices: the TTS backend interface and its backends, with word timings on the 16 kHz sample grid.

* ``espeak`` (default): espeak-ng in process through ctypes, from the ``espeakng-loader`` wheel (library and data
  ship in it: nothing is downloaded).  Word start times come from espeak's WORD events; each word ends where its
  audio energy ends (so pauses between words are not labelled speech).  A voice name is
  ``"<espeak voice>+<variant>:p<pitch>:r<rate>"``, e.g. ``"en-us+f3:p60:r170"``.
* ``coqui`` (optional extra ``duplexkit[coqui]``): Coqui TTS from local model files.
* ``recordings``: real recordings listed in a user manifest (path + transcript), with a TTS fallback for lines
  nobody recorded.

Every utterance is trimmed to its speech (20 ms margins) and normalised to the same active-speech RMS, so voices
differ in timbre, pitch and rate but not in level (the room sets levels).
"""

from __future__ import annotations

import ctypes
import json
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.signal import resample_poly

from datagen.schema import SAMPLE_RATE, Word

TARGET_RMS = 0.05  # active-speech RMS of every utterance
ENERGY_FRAME = 160  # 10 ms
WORD_FLOOR_DB = -40.0  # a word ends at its last 10 ms frame within 40 dB of the utterance's loudest frame
MARGIN = 320  # 20 ms of context kept around the trimmed utterance

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


class BackendUnavailable(RuntimeError):
    """An optional backend whose package or files are missing (one line saying what to install or provide)."""


@dataclass
class Utterance:
    text: str
    audio: np.ndarray  # float32, 16 kHz, read-only
    words: list[Word]  # sample offsets within ``audio``
    voice: str


class TTSBackend:
    """What the generator needs from a TTS: named voices and ``synthesize`` with word timings."""

    name = "base"
    cpu_seconds = 0.0

    def voices(self) -> list[str]:
        raise NotImplementedError

    def synthesize(self, text: str, voice: str) -> Utterance:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------------------------
# Shared post-processing: trim, normalise, tokens, word ends
# ------------------------------------------------------------------------------------------------------------------
_TOKEN_STRIP = re.compile(r"^[^\w']+|[^\w']+$")


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Whitespace tokens of ``text`` as (word without surrounding punctuation, char start, char end)."""
    out = []
    for m in re.finditer(r"\S+", text):
        word = _TOKEN_STRIP.sub("", m.group()) or m.group()
        out.append((word, m.start(), m.end()))
    return out


def _frame_energy_db(x: np.ndarray) -> np.ndarray:
    n = max(1, math.ceil(len(x) / ENERGY_FRAME))
    padded = np.zeros(n * ENERGY_FRAME, np.float64)
    padded[: len(x)] = x
    power = np.square(padded).reshape(n, ENERGY_FRAME).mean(axis=1)
    return 10 * np.log10(power + 1e-12)


def finish(text: str, audio: np.ndarray, starts: Sequence[int], voice: str) -> Utterance:
    """Word spans from start samples (one per token), trimmed to speech, normalised; returns a frozen Utterance."""
    toks = tokens(text)
    audio = np.asarray(audio, np.float32)
    db = _frame_energy_db(audio)
    active = db >= db.max() + WORD_FLOOR_DB
    if not active.any():
        raise ValueError(f"TTS produced silence for {text!r}")
    first = int(np.argmax(active)) * ENERGY_FRAME
    last = (len(active) - int(np.argmax(active[::-1]))) * ENERGY_FRAME
    lo, hi = max(0, first - MARGIN), min(len(audio), last + MARGIN)
    words: list[Word] = []
    bounds = [int(np.clip(s, 0, len(audio))) for s in starts] + [last]
    for i, (word, _, _) in enumerate(toks):
        s = max(bounds[i], words[-1].end if words else first)
        nxt = max(bounds[i + 1], s)
        f0, f1 = s // ENERGY_FRAME, max(s // ENERGY_FRAME + 1, nxt // ENERGY_FRAME)
        seg = active[f0:f1]
        e = min(nxt, (f0 + len(seg) - int(np.argmax(seg[::-1]))) * ENERGY_FRAME) if seg.any() else s
        words.append(Word(word, s, max(e, s)))
    clip = audio[lo:hi].copy()
    cdb = _frame_energy_db(clip)
    level = float(np.sqrt(np.mean(10 ** (cdb[cdb >= cdb.max() + WORD_FLOOR_DB] / 10))))
    if level > 0:
        clip *= np.float32(TARGET_RMS / level)
    np.clip(clip, -1.0, 1.0, out=clip)
    clip.setflags(write=False)
    shifted = [Word(w.text, min(max(w.start - lo, 0), len(clip)), min(max(w.end - lo, 0), len(clip))) for w in words]
    return Utterance(text=text, audio=clip, words=shifted, voice=voice)


def even_starts(text: str, audio: np.ndarray) -> list[int]:
    """Word starts spread over the voiced span in proportion to word length (for backends without timings)."""
    toks = tokens(text)
    db = _frame_energy_db(np.asarray(audio, np.float32))
    active = db >= db.max() + WORD_FLOOR_DB
    first = int(np.argmax(active)) * ENERGY_FRAME
    last = (len(active) - int(np.argmax(active[::-1]))) * ENERGY_FRAME
    weights = np.array([len(w) + 1 for w, _, _ in toks], float)
    cum = np.concatenate([[0.0], np.cumsum(weights)[:-1]]) / weights.sum()
    return [int(first + c * (last - first)) for c in cum]


# ------------------------------------------------------------------------------------------------------------------
# espeak-ng through ctypes
# ------------------------------------------------------------------------------------------------------------------
class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4
_VOICE_RE = re.compile(r"^(?P<base>[A-Za-z0-9-]+)(\+(?P<variant>[A-Za-z0-9_]+))?(:p(?P<pitch>\d+))?(:r(?P<rate>\d+))?$")


@dataclass(frozen=True)
class EspeakVoice:
    base: str
    variant: str | None
    pitch: int
    rate: int

    @classmethod
    def parse(cls, name: str) -> "EspeakVoice":
        m = _VOICE_RE.match(name)
        if not m:
            raise ValueError(f"malformed espeak voice {name!r} (expected e.g. 'en-us+f3:p60:r170')")
        pitch = int(m["pitch"] or 50)
        rate = int(m["rate"] or 175)
        if not (0 <= pitch <= 100 and 80 <= rate <= 450):
            raise ValueError(f"espeak voice {name!r}: pitch must be 0-100 and rate 80-450 wpm")
        return cls(m["base"], m["variant"], pitch, rate)


class _Espeak:
    """espeak-ng through ctypes, loaded afresh for every utterance.

    espeak-ng keeps synthesis state in C statics (pitch-flutter index, glottal phase, echo buffer...) that run on
    across calls and that nothing in its API resets, so the same text would come out slightly different depending
    on what the process said before, and a corpus would depend on which worker rendered which dialogue.  Loading
    the library, synthesising and unloading it again (``dlclose``) costs about 2 ms and makes the audio depend on
    (text, voice) only.  A lock serialises calls, since the library is one per process.
    """

    _lock = threading.Lock()
    _instance: "_Espeak | None" = None
    rate = 22050  # espeak-ng's native rate (checked at every initialisation)

    def __init__(self) -> None:
        import espeakng_loader

        self.lib_path = str(espeakng_loader.get_library_path())
        self.data = Path(espeakng_loader.get_data_path())
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int]] = []  # (text_position, audio sample at the native rate)
        self._cb = _CALLBACK(self._callback)  # keep a reference: ctypes must not free it

    @classmethod
    def get(cls) -> "_Espeak":
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance

    def _callback(self, wav, numsamples, events) -> int:
        if numsamples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._events.append((ev.text_position, int(ev.audio_position * self.rate // 1000)))
            i += 1
        return 0

    def has_variant(self, variant: str) -> bool:
        return (self.data / "voices" / "!v" / variant).is_file()

    def _load(self):
        lib = ctypes.CDLL(self.lib_path, mode=ctypes.RTLD_LOCAL)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data).encode(), 0)
        if rate != self.rate:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {self.data} (returned {rate})")
        lib.espeak_SetSynthCallback(self._cb)
        return lib

    def synth(self, text: str, voice: EspeakVoice) -> tuple[np.ndarray, list[tuple[int, int]]]:
        import _ctypes

        with self._lock:
            lib = self._load()
            try:
                name = voice.base + (f"+{voice.variant}" if voice.variant else "")
                if lib.espeak_SetVoiceByName(name.encode()) != 0:
                    raise ValueError(f"espeak-ng has no voice {name!r}")
                lib.espeak_SetParameter(_RATE, voice.rate, 0)
                lib.espeak_SetParameter(_PITCH, voice.pitch, 0)
                lib.espeak_SetParameter(_RANGE, 50, 0)
                lib.espeak_ng_SetRandSeed(0)
                self._chunks, self._events = [], []
                data = text.encode("utf-8") + b"\0"
                buf = ctypes.create_string_buffer(data)
                err = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                lib.espeak_Synchronize()
                if err != 0:
                    raise RuntimeError(f"espeak-ng failed on {text!r} (error {err})")
                pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
                return pcm, list(self._events)
            finally:
                lib.espeak_Terminate()
                handle = lib._handle
                del lib
                _ctypes.dlclose(handle)


class EspeakBackend(TTSBackend):
    name = "espeak"

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self._checked: dict[str, EspeakVoice] = {}

    def voices(self) -> list[str]:
        return list(dict.fromkeys(USER_VOICES + THIRD_VOICES + (ASSISTANT_VOICE,)))

    def _voice(self, name: str) -> EspeakVoice:
        if name not in self._checked:
            try:
                voice = EspeakVoice.parse(name)
            except ValueError as exc:
                raise ValueError(f"unknown voice {name!r} for backend espeak ({exc})") from None
            engine = _Espeak.get()
            if voice.variant and not engine.has_variant(voice.variant):
                raise ValueError(f"unknown voice {name!r} for backend espeak (no variant {voice.variant!r})")
            self._checked[name] = voice
        return self._checked[name]

    def synthesize(self, text: str, voice: str) -> Utterance:
        v = self._voice(voice)
        t0 = time.process_time()
        pcm, events = _Espeak.get().synth(text, v)
        native = _Espeak.get().rate
        audio = _resample(pcm.astype(np.float32) / np.float32(32768.0), native)
        starts = _align_events(text, events, native)
        utt = finish(text, audio, starts, voice)
        self.cpu_seconds += time.process_time() - t0
        return utt


def _align_events(text: str, events: list[tuple[int, int]], native_rate: int) -> list[int]:
    """One start sample (16 kHz) per token: espeak WORD events mapped by character position onto the tokens.

    espeak may emit several events per token (hyphenated words, numbers read as several words) or none (pure
    punctuation): the earliest event inside a token wins; tokens without one get a start interpolated between
    their neighbours.
    """
    toks = tokens(text)
    starts: list[float | None] = [None] * len(toks)
    for pos, sample in events:
        char = pos - 1  # espeak's text positions are 1-based
        for i, (_, a, b) in enumerate(toks):
            if a <= char < b:
                s = sample * SAMPLE_RATE / native_rate
                starts[i] = s if starts[i] is None else min(starts[i], s)
                break
    known = [i for i, s in enumerate(starts) if s is not None]
    if not known:
        return [0] * len(toks)
    xs = np.array(known, float)
    ys = np.array([starts[i] for i in known], float)
    filled = np.interp(np.arange(len(toks)), xs, ys)
    return [int(round(x)) for x in np.maximum.accumulate(filled)]


# ------------------------------------------------------------------------------------------------------------------
# Optional: Coqui TTS with local model files
# ------------------------------------------------------------------------------------------------------------------
class CoquiBackend(TTSBackend):
    """Coqui TTS (``pip install 'duplexkit[coqui]'``) from local files only.

    Coqui gives no word timings, so word starts are spread over the voiced span in proportion to word length
    (:func:`even_starts`); word ends still follow the audio energy.
    """

    name = "coqui"

    def __init__(self, model_path: str = "", config_path: str = "", speakers: Sequence[str] | None = None, device: str = "cpu"):
        try:
            from TTS.api import TTS  # type: ignore[import-not-found]
        except Exception:
            raise BackendUnavailable(
                "coqui TTS backend is unavailable: package 'TTS' is not installed (pip install 'duplexkit[coqui]'); "
                "it also needs local model files (tts.model_path, tts.config_path)"
            ) from None
        for key, path in (("model_path", model_path), ("config_path", config_path)):
            if not path or not Path(path).exists():
                raise BackendUnavailable(f"coqui TTS backend is unavailable: tts.{key} {path!r} does not exist")
        self.cpu_seconds = 0.0
        self.tts = TTS(model_path=model_path, config_path=config_path).to(device)
        self.sample_rate = int(self.tts.synthesizer.output_sample_rate)
        self._speakers = list(speakers or getattr(self.tts, "speakers", None) or ["default"])

    def voices(self) -> list[str]:
        return list(self._speakers)

    def synthesize(self, text: str, voice: str) -> Utterance:
        if voice not in self._speakers:
            raise ValueError(f"unknown voice {voice!r} for backend coqui (known: {', '.join(self._speakers)})")
        t0 = time.process_time()
        kwargs = {} if voice == "default" else {"speaker": voice}
        wav = np.asarray(self.tts.tts(text, **kwargs), np.float32)
        audio = _resample(wav, self.sample_rate)
        utt = finish(text, audio, even_starts(text, audio), voice)
        self.cpu_seconds += time.process_time() - t0
        return utt


@lru_cache(maxsize=8)
def _resample_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR ``resample_poly`` would design on every call (Kaiser, beta 5), designed once."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    half_len = 10 * max_rate
    return firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))  # resample_poly scales it by up


def _resample(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return x.astype(np.float32)
    g = math.gcd(SAMPLE_RATE, rate)
    up, down = SAMPLE_RATE // g, rate // g
    # resample_poly scales the filter it is given in place: hand it a copy of the cached one.
    return resample_poly(x, up, down, window=_resample_filter(up, down).copy()).astype(np.float32)


# ------------------------------------------------------------------------------------------------------------------
# Real recordings from a manifest
# ------------------------------------------------------------------------------------------------------------------
def normalize_transcript(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


class RecordingsBackend(TTSBackend):
    """Real recordings listed in a JSONL manifest: ``{"path", "text", "speaker", "words"?: [{text, start, end}]}``.

    ``synthesize(text, voice)`` returns the recording whose transcript matches ``text`` (the requested speaker
    first, then anyone); lines nobody recorded are spoken by a fallback TTS and counted in ``fallbacks``.  Broken
    manifest entries (bad JSON, missing fields or files, corrupt audio) are skipped and listed in ``skipped``.
    """

    name = "recordings"

    def __init__(self, manifest: str, fallback: TTSBackend | None = None):
        import soundfile as sf

        self.manifest = Path(manifest)
        self.cpu_seconds = 0.0
        self.skipped: list[str] = []
        self.fallbacks = 0
        self._fallback = fallback
        self._by_text: dict[str, dict[str, Utterance]] = {}
        try:
            lines = self.manifest.read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"{self.manifest}: cannot read recordings manifest ({exc.strerror or exc})") from None
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                path = Path(entry["path"])
                text, speaker = str(entry["text"]), str(entry.get("speaker", "speaker"))
            except (ValueError, KeyError, TypeError) as exc:
                self.skipped.append(f"line {lineno}: bad entry ({type(exc).__name__}: {exc})")
                continue
            path = path if path.is_absolute() else self.manifest.parent / path
            try:
                wav, rate = sf.read(str(path), dtype="float32", always_2d=True)
            except Exception as exc:
                reason = "missing file" if not path.exists() else f"corrupt audio ({str(exc).splitlines()[0]})"
                self.skipped.append(f"line {lineno}: {path}: {reason}")
                continue
            mono = wav.mean(axis=1)
            if mono.size == 0 or not np.isfinite(mono).all() or not mono.any():
                self.skipped.append(f"line {lineno}: {path}: empty, silent or non-finite audio")
                continue
            audio = _resample(mono, rate)
            if "words" in entry:
                starts = [int(round(float(w["start"]) * SAMPLE_RATE)) for w in entry["words"]]
                if len(starts) != len(tokens(text)):
                    self.skipped.append(f"line {lineno}: {path}: 'words' does not match the transcript's words")
                    continue
            else:
                starts = even_starts(text, audio)
            try:
                utt = finish(text, audio, starts, speaker)
            except ValueError as exc:
                self.skipped.append(f"line {lineno}: {path}: {exc}")
                continue
            self._by_text.setdefault(normalize_transcript(text), {})[speaker] = utt
        if not self._by_text:
            raise ValueError(f"{self.manifest}: no usable recordings ({len(self.skipped)} entries skipped)")
        self._speakers = sorted({s for by in self._by_text.values() for s in by})

    def voices(self) -> list[str]:
        return list(self._speakers)

    def synthesize(self, text: str, voice: str) -> Utterance:
        if voice not in self._speakers:
            raise ValueError(f"unknown voice {voice!r} for backend recordings (known: {', '.join(self._speakers)})")
        found = self._by_text.get(normalize_transcript(text))
        if found:
            return found.get(voice) or found[sorted(found)[0]]
        self.fallbacks += 1
        if self._fallback is None:
            self._fallback = EspeakBackend()
        fallback_voice = USER_VOICES[self._speakers.index(voice) % len(USER_VOICES)]
        t0 = time.process_time()
        utt = self._fallback.synthesize(text, fallback_voice)
        self.cpu_seconds += time.process_time() - t0
        return Utterance(utt.text, utt.audio, utt.words, voice)


# ------------------------------------------------------------------------------------------------------------------
# Cache and registry
# ------------------------------------------------------------------------------------------------------------------
class CachedTTS:
    """An LRU cache over a backend: lexicon lines and bank answers recur across dialogues."""

    def __init__(self, backend: TTSBackend, max_items: int = 4096):
        self.backend = backend
        self.name = backend.name
        self.max_items = max_items
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[tuple[str, str], Utterance] = OrderedDict()

    @property
    def cpu_seconds(self) -> float:
        return self.backend.cpu_seconds

    def voices(self) -> list[str]:
        return self.backend.voices()

    def synthesize(self, text: str, voice: str) -> Utterance:
        key = (text, voice)
        if key in self._cache:
            self.hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        self.misses += 1
        utt = self.backend.synthesize(text, voice)
        self._cache[key] = utt
        if len(self._cache) > self.max_items:
            self._cache.popitem(last=False)
        return utt


BACKENDS = {"espeak": EspeakBackend, "coqui": CoquiBackend, "recordings": RecordingsBackend}


def get_backend(name: str, **options: Any) -> TTSBackend:
    if name not in BACKENDS:
        raise ValueError(f"tts.backend: unknown TTS backend {name!r} (known: {', '.join(BACKENDS)})")
    cls = BACKENDS[name]
    import inspect

    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"tts: unknown option {unknown[0]!r} for backend {name} (known: {', '.join(sorted(allowed)) or 'none'})")
    return cls(**options)
