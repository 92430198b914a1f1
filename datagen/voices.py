"""Voices: the TTS backend interface and its backends, with word timings on the 16 kHz sample grid.

* ``espeak`` (default): espeak-ng in process through ctypes, from the ``espeakng-loader`` wheel (library and data
  ship in it: nothing is downloaded).  Word start times come from espeak's WORD events; each word ends where its
  audio energy ends (so pauses between words are not labelled speech).  A voice name is
  ``"<espeak voice>+<variant>:p<pitch>:r<rate>"``, e.g. ``"en-us+f3:p60:r170"``.  The same (text, voice) gives the
  same bytes in any process, whatever was said before (see :class:`_Espeak`); ~500x real time per core.
* ``coqui`` (optional extra ``duplexkit[coqui]``): Coqui TTS from local model files.
* ``recordings``: real recordings listed in a user manifest (path + transcript), with a TTS fallback for lines
  nobody recorded.

Every utterance is trimmed to its speech (20 ms margins) and normalised to the same active-speech RMS, so voices
differ in timbre, pitch and rate but not in level (the room sets levels).
"""

from __future__ import annotations

import bisect
import ctypes
import json
import math
import os
import re
import threading
import time
from abc import ABC, abstractmethod
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
SILENCE_DB = -90.0  # an utterance whose loudest 10 ms frame is below this (dBFS power) is silence

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


class TTSBackend(ABC):
    """What the generator needs from a TTS: named voices and ``synthesize`` with word timings.

    ``cpu_seconds`` accumulates the process CPU time (``time.process_time``) spent synthesising.  An unknown voice
    raises ``ValueError("unknown voice 'x' for backend <name> ... (known: ...)")`` on one line.
    """

    name: str = "base"
    cpu_seconds: float = 0.0

    @abstractmethod
    def voices(self) -> list[str]:
        """Voice names this backend offers (for espeak: the built-in pools)."""

    @abstractmethod
    def synthesize(self, text: str, voice: str) -> Utterance:
        """``text`` spoken by ``voice``: trimmed, level-normalised 16 kHz audio and one Word per token."""


# ------------------------------------------------------------------------------------------------------------------
# Shared post-processing: trim, normalise, tokens, word ends
# ------------------------------------------------------------------------------------------------------------------
_TOKEN_STRIP = re.compile(r"^\W+|\W+$")  # punctuation and quotes around a word (inner apostrophes stay)


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Whitespace tokens of ``text`` as (word without surrounding punctuation, char start, char end).

    A token that is punctuation only keeps its text, so every token of the input gets exactly one Word.
    """
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


def finish(
    text: str, audio: np.ndarray, starts: Sequence[int], voice: str, ends: Sequence[int] | None = None
) -> Utterance:
    """Word spans from start samples (one per token), trimmed to speech, normalised; returns a frozen Utterance.

    Word ``i`` starts at ``starts[i]`` (never before the first voiced frame or the previous word's end) and ends at
    the end of its last 10 ms frame within 40 dB of the utterance's loudest frame, no later than the next word's
    start (the last word: the last voiced frame).  ``ends`` (e.g. from a recordings manifest) replaces that
    estimate.  The utterance is then cut to its voiced span plus :data:`MARGIN`, word times shifted to match, and
    scaled so its voiced frames have RMS :data:`TARGET_RMS`.
    """
    toks = tokens(text)
    if len(starts) != len(toks) or (ends is not None and len(ends) != len(toks)):
        raise ValueError(f"{len(starts)} word times for {len(toks)} words in {text!r}")
    audio = np.asarray(audio, np.float32)
    if audio.size == 0:
        raise ValueError("empty audio")
    if not np.isfinite(audio).all():
        raise ValueError("audio has NaN or infinite samples")
    db = _frame_energy_db(audio)
    peak = float(db.max())
    if peak < SILENCE_DB:
        raise ValueError("silent audio")
    active = db >= peak + WORD_FLOOR_DB
    idx = np.flatnonzero(active)
    first, last = int(idx[0]) * ENERGY_FRAME, min(len(audio), (int(idx[-1]) + 1) * ENERGY_FRAME)
    lo, hi = max(0, first - MARGIN), min(len(audio), last + MARGIN)
    bounds = np.clip(np.asarray(list(starts) + [last], np.int64), 0, len(audio))
    spans: list[tuple[int, int]] = []
    prev_end = first
    for i in range(len(toks)):
        s = max(int(bounds[i]), prev_end)
        nxt = max(int(bounds[i + 1]), s)
        if ends is not None:
            e = int(np.clip(ends[i], s, max(nxt, s)))
        else:
            f0, f1 = s // ENERGY_FRAME, max(s // ENERGY_FRAME + 1, nxt // ENERGY_FRAME)  # frames ending by nxt
            hit = np.flatnonzero(active[f0:f1])
            e = min(nxt, (f0 + int(hit[-1]) + 1) * ENERGY_FRAME) if hit.size else s
            e = max(e, s)
        spans.append((s, e))
        prev_end = e
    clip = audio[lo:hi].copy()
    voiced = db[lo // ENERGY_FRAME : -(-hi // ENERGY_FRAME)]
    voiced = voiced[voiced >= peak + WORD_FLOOR_DB]
    level = float(np.sqrt(np.mean(np.power(10.0, voiced / 10))))
    if level > 0:
        clip *= np.float32(TARGET_RMS / level)
    np.clip(clip, -1.0, 1.0, out=clip)
    clip.setflags(write=False)
    n = len(clip)
    words = [Word(w, min(max(s - lo, 0), n), min(max(e - lo, 0), n)) for (w, _, _), (s, e) in zip(toks, spans)]
    return Utterance(text=text, audio=clip, words=words, voice=voice)


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


class _Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h)
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters (code points) of the UTF-8 input
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # samples at the native rate since the start of the text
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _VoiceInfo(ctypes.Structure):  # espeak_VOICE (speak_lib.h)
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4
# Callback buffer: 0 = espeak's default (60 ms), as its CLI uses.  Part of the output: how much of an echoing
# variant's decaying tail espeak emits depends on it (larger buffers cost no less CPU here).
_BUFFER_MS = 0
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


class _Espeak:
    """espeak-ng in this process through ctypes; one per process, created on first use (never at import).

    **Loaded afresh for every utterance.**  espeak-ng keeps synthesis state in C statics (pitch-flutter index,
    glottal phase, echo buffer...) that run on across calls and that nothing in its API resets: the same text said
    twice in a row comes out a few samples different, so a corpus would depend on which worker rendered which
    dialogue.  Loading the library, initialising, synthesising and unloading it (``dlclose``) makes the audio
    depend on (text, voice) only.

    What makes that cheap: espeak scans and parses *every* voice file of its data directory (~240 files, 2.5 ms)
    the first time a voice is selected after loading.  So espeak runs on a private data directory of symbolic links
    (in the temp dir, removed at exit) holding the phoneme tables and dictionaries but only the voice and variant
    files in use, added as voices are validated; a reload then costs ~0.5 ms.  Voices are selected by their file
    identifier (``gmw/en-US+f3``), which names the same file whatever else the directory holds.

    A lock serialises calls, since the library (and its callback) is one per process.
    """

    _lock = threading.Lock()
    _instance: "_Espeak | None" = None
    rate = 22050  # espeak-ng's native rate (checked at every initialisation)

    def __init__(self) -> None:
        import espeakng_loader

        self.lib_path = str(espeakng_loader.get_library_path())
        self.real_data = Path(espeakng_loader.get_data_path())
        if not (self.real_data / "phontab").is_file():
            raise RuntimeError(f"espeak-ng data not found at {self.real_data} (reinstall espeakng-loader)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int]] = []  # (text_position, audio sample at the native rate)
        self._cb = _CALLBACK(self._callback)  # keep a reference: ctypes must not free it
        self._dlclose = _dlclose_function()
        self._catalogue: dict[str, str] | None = None  # lower-cased name / identifier / file name -> identifier
        self._variants = {p.name for p in (self.real_data / "voices" / "!v").iterdir() if p.is_file()}
        self._selectors: dict[tuple[str, str | None], str] = {}  # (base, variant) -> identifier[+variant]
        self._exposed: set[str] = set()
        self.data = self.real_data
        self._private: Path | None = None
        self._make_private()

    def _make_private(self) -> None:
        self._exposed = set()
        self.data, self._private = self.real_data, None
        if self._dlclose is not None:  # without unloading, a private directory saves nothing
            self._private = _make_private_data_dir(self.real_data)
            if self._private is not None:
                self.data = self._private
                for sel in self._selectors.values():
                    ident, _, variant = sel.partition("+")
                    self._expose(ident, variant or None)

    @classmethod
    def get(cls) -> "_Espeak":
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance

    # -- callback -----------------------------------------------------------------------------------------------
    def _callback(self, wav, numsamples, events) -> int:
        if numsamples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._events.append((ev.text_position, ev.sample))
            i += 1
        return 0

    # -- library lifetime ---------------------------------------------------------------------------------------
    def _open(self, data: Path):
        lib = ctypes.CDLL(self.lib_path, mode=ctypes.RTLD_LOCAL)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceInfo))
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, str(data).encode(), 0)
        if rate != self.rate:
            self._close(lib)
            raise RuntimeError(f"espeak-ng failed to initialise with data at {data} (returned {rate})")
        lib.espeak_SetSynthCallback(self._cb)
        return lib

    def _close(self, lib) -> None:
        lib.espeak_Terminate()
        if self._dlclose is not None:
            handle = lib._handle
            del lib
            self._dlclose(handle)

    # -- voices -------------------------------------------------------------------------------------------------
    def _load_catalogue(self) -> dict[str, str]:
        """All voices of the shipped data, by name, identifier and file name (lower case), as espeak matches them."""
        lib = self._open(self.real_data)
        try:
            entries = lib.espeak_ListVoices(None)
            found: list[tuple[str, str]] = []
            i = 0
            while entries[i]:
                v = entries[i].contents
                found.append(((v.name or b"").decode("utf-8", "replace"), (v.identifier or b"").decode()))
                i += 1
        finally:
            self._close(lib)
        # espeak's SelectVoiceByName: a voice name beats an identifier beats an identifier's last part; later
        # writes win here, so write in that order, reversed within a rank so that the first voice listed wins.
        catalogue: dict[str, str] = {}
        for rank in (0, 1, 2):
            for name, ident in reversed(found):
                key = (ident.rsplit("/", 1)[-1], ident, name)[rank].lower()
                if key and ident:
                    catalogue[key] = ident
        return catalogue

    def resolve(self, voice: EspeakVoice) -> str:
        """The espeak name to select (``identifier[+variant]``); ValueError saying what does not exist."""
        with self._lock:
            return self._resolve(voice)

    def _resolve(self, voice: EspeakVoice) -> str:  # with the lock held
        key = (voice.base.lower(), voice.variant)
        select = self._selectors.get(key)
        if select is None:
            if self._catalogue is None:
                self._catalogue = self._load_catalogue()
            ident = self._catalogue.get(key[0])
            if ident is None:
                raise ValueError(f"espeak-ng has no voice {voice.base!r}")
            if voice.variant is not None and voice.variant not in self._variants:
                raise ValueError(f"espeak-ng has no variant {voice.variant!r}")
            self._expose(ident, voice.variant)
            select = self._selectors[key] = ident + (f"+{voice.variant}" if voice.variant else "")
        return select

    def _expose(self, ident: str, variant: str | None) -> None:
        """Link a voice (and variant) file into the private data directory."""
        if self._private is None:
            return
        wanted = [("lang" if (self.real_data / "lang" / ident).is_file() else "voices", ident)]
        if variant:
            wanted.append(("voices", f"!v/{variant}"))
        for top, rel in wanted:
            key = f"{top}/{rel}"
            if key in self._exposed:
                continue
            link = self._private / top / rel
            try:
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.exists():
                    link.symlink_to(self.real_data / top / rel)
            except OSError:  # cannot link: fall back to the shipped directory (slower, same audio)
                self.data = self.real_data
            self._exposed.add(key)

    # -- synthesis ----------------------------------------------------------------------------------------------
    def synth(self, text: str, voice: EspeakVoice) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """int16 samples at :attr:`rate` and the WORD events as (1-based character position, native sample)."""
        with self._lock:
            select = self._resolve(voice)
            if self._private is not None and not (self._private / "phontab").exists():
                self._make_private()  # the temp directory was cleaned away under us: rebuild it
            lib = self._open(self.data)
            try:
                if lib.espeak_SetVoiceByName(select.encode()) != 0:
                    raise RuntimeError(f"espeak-ng could not select voice {select!r} (data at {self.data})")
                lib.espeak_SetParameter(_RATE, voice.rate, 0)
                lib.espeak_SetParameter(_PITCH, voice.pitch, 0)
                lib.espeak_SetParameter(_RANGE, 50, 0)
                lib.espeak_ng_SetRandSeed(0)
                self._chunks, self._events = [], []
                data = text.encode("utf-8") + b"\0"
                buf = ctypes.create_string_buffer(data, len(data))
                err = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                lib.espeak_Synchronize()
                if err != 0:
                    raise RuntimeError(f"espeak-ng failed on {text!r} (error {err})")
                pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
                events, self._chunks, self._events = self._events, [], []
                return pcm, events
            finally:
                self._close(lib)


def _dlclose_function():
    """``dlclose`` (POSIX) or ``FreeLibrary`` (Windows) from ctypes' C module; None if neither exists."""
    import _ctypes

    return getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)


_PRIVATE_PREFIX = "duplexkit-espeak-"
_PRIVATE_LOCKS: list[Any] = []  # open lock files: held for the life of the process (flock: released on any exit)


def _make_private_data_dir(real: Path) -> Path | None:
    """A temp directory linking espeak's tables and dictionaries (voice files are linked as they are used).

    It is removed at interpreter exit; a process killed before that leaves it behind, so each new one first removes
    the directories whose owners are gone (their ``.lock`` can be locked again).  None if links cannot be made.
    """
    import shutil
    import tempfile
    import weakref

    _remove_stale_private_dirs(Path(tempfile.gettempdir()))
    try:
        private = Path(tempfile.mkdtemp(prefix=_PRIVATE_PREFIX))
    except OSError:
        return None
    try:
        lock = open(private / ".lock", "w")
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no flock (Windows): never removed by others; at exit only
            pass
        _PRIVATE_LOCKS.append(lock)
        for item in real.iterdir():
            if item.name not in ("voices", "lang"):
                (private / item.name).symlink_to(item)
        (private / "voices" / "!v").mkdir(parents=True)
        (private / "lang").mkdir()
    except OSError:
        shutil.rmtree(private, ignore_errors=True)
        return None
    weakref.finalize(_Espeak, _remove_private_dir, str(private), os.getpid())  # removed at interpreter exit
    return private


def _remove_stale_private_dirs(tmp: Path) -> None:
    """Remove private data directories left by processes that died without cleaning up."""
    import shutil

    try:
        import fcntl
    except ImportError:
        return
    try:
        candidates = [p for p in tmp.iterdir() if p.name.startswith(_PRIVATE_PREFIX)]
    except OSError:
        return
    for path in candidates:
        try:
            with open(path / ".lock", "r+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while the owner (or a fork) lives
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:  # no lock file: being created right now, or not ours; old ones go
            try:
                if time.time() - path.stat().st_mtime > 24 * 3600:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass
        except OSError:
            pass


def _remove_private_dir(path: str, owner_pid: int) -> None:
    import shutil

    if os.getpid() == owner_pid:  # a forked child leaving must not remove its parent's directory
        shutil.rmtree(path, ignore_errors=True)


def _after_fork_in_child() -> None:
    # A fork taken while another thread synthesised must not inherit a held lock, and the child gets its own
    # engine (and private directory) so that the parent exiting cannot pull the data from under it.
    _Espeak._lock = threading.Lock()
    _Espeak._instance = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class EspeakBackend(TTSBackend):
    """espeak-ng voices ``"<voice>[+<variant>][:p<pitch>][:r<rate>]"``; word starts from espeak's WORD events.

    :meth:`voices` lists the built-in pools; any well-formed name whose espeak voice and variant exist in the
    shipped data is accepted too (checked once per name).
    """

    name = "espeak"

    def __init__(self) -> None:
        self.cpu_seconds = 0.0
        self._checked: dict[str, EspeakVoice] = {}

    def voices(self) -> list[str]:
        return list(dict.fromkeys(USER_VOICES + THIRD_VOICES + (ASSISTANT_VOICE,)))

    def _voice(self, name: str) -> EspeakVoice:
        voice = self._checked.get(name)
        if voice is None:
            try:
                voice = EspeakVoice.parse(name)
                _Espeak.get().resolve(voice)
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
        engine = _Espeak.get()
        pcm, events = engine.synth(text, v)
        audio = _resample(pcm.astype(np.float32) * np.float32(1 / 32768), engine.rate)
        if not audio.any():
            raise ValueError(f"espeak-ng produced no speech for {text!r}")
        starts = _align_events(text, events, engine.rate)
        try:
            utt = finish(text, audio, even_starts(text, audio) if starts is None else starts, voice)
        except ValueError as exc:
            raise ValueError(f"espeak-ng produced no usable speech for {text!r} ({exc})") from None
        self.cpu_seconds += time.process_time() - t0
        return utt


def _align_events(text: str, events: list[tuple[int, int]], native_rate: int) -> list[int] | None:
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


# ------------------------------------------------------------------------------------------------------------------
# Optional: Coqui TTS with local model files
# ------------------------------------------------------------------------------------------------------------------
class CoquiBackend(TTSBackend):
    """Coqui TTS (``pip install 'duplexkit[coqui]'``) from local files only.

    Coqui gives no word timings, so word starts are spread over the voiced span in proportion to word length
    (:func:`even_starts`); word ends still follow the audio energy.
    """

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
            raise BackendUnavailable(f"{prefix}: importing package 'TTS' failed ({_one_line(exc)})") from None
        for key, path in (("model_path", model_path), ("config_path", config_path)):
            if not path or not Path(path).is_file():
                raise BackendUnavailable(f"{prefix}: tts.{key} {str(path)!r} is not a file (local model files only)")
        self.cpu_seconds = 0.0
        try:
            self.tts = TTS(model_path=str(model_path), config_path=str(config_path)).to(device)
            self.sample_rate = int(self.tts.synthesizer.output_sample_rate)
        except Exception as exc:
            raise BackendUnavailable(f"{prefix}: cannot load {model_path} ({_one_line(exc)})") from None
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


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


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
_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")
_NON_WORD = re.compile(r"[^\w\s]+|_")


def normalize_transcript(text: str) -> str:
    """Lower case, apostrophes dropped ("it's" -> "its"), other punctuation as spaces, whitespace collapsed."""
    return " ".join(_NON_WORD.sub(" ", _APOSTROPHES.sub("", text.lower())).split())


class RecordingsBackend(TTSBackend):
    """Real recordings listed in a JSONL manifest, one per line::

        {"path": "a.wav", "text": "what is the capital of france", "speaker": "spk1",
         "words": [{"text": "what", "start": 0.12, "end": 0.31}, ...]}       # "words" optional, seconds

    Relative paths are relative to the manifest's directory; any rate or channel count (mixed to mono, resampled
    to 16 kHz).  Every entry is loaded and checked at construction: broken ones (bad JSON, missing fields, missing
    file, unreadable or corrupt audio, empty / silent / non-finite audio, ``words`` that do not match the
    transcript) are skipped and listed in :attr:`skipped`, one reason each; ValueError if none is usable.

    ``synthesize(text, voice)`` returns the recording whose normalised transcript (:func:`normalize_transcript`)
    equals the text's, said by ``voice`` if that speaker recorded it, else by the first speaker (sorted) who did;
    its ``voice`` is the speaker heard.  Lines nobody recorded are spoken by ``fallback`` (default: an
    :class:`EspeakBackend` created on first need) in a user voice fixed per speaker, and counted in
    :attr:`fallbacks`.  Word timings come from the manifest when given, else the voiced span is shared out over the
    words in proportion to their length (:func:`even_starts`).
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
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
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
            try:
                wav, rate = sf.read(str(path), dtype="float32", always_2d=True)
            except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError...
                self.skipped.append(f"{where}: corrupt audio ({_one_line(exc)})")
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
        audio = _resample(mono, rate)
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
            [int(round(a * SAMPLE_RATE)) for a, _ in spans],
            speaker,
            ends=[int(round(b * SAMPLE_RATE)) for _, b in spans],
        )

    def voices(self) -> list[str]:
        return list(self._speakers)

    def synthesize(self, text: str, voice: str) -> Utterance:
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
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"tts: unknown option {unknown[0]!r} for backend {name} (known: {known})")
    return cls(**options)
