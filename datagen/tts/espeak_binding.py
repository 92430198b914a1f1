"""espeak-ng in this process through ctypes (the ``espeakng-loader`` wheel ships library and data: nothing is
downloaded).  One :class:`EspeakEngine` per process owns the library's lifetime and the lock around it, because
the library and its callback are process-wide; why the library is reloaded per call: ``docs/tts.md``."""

from __future__ import annotations

import ctypes
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from datagen.common.signals import deferred_interrupts


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
_PHONEMES_IPA = 2  # espeak_TextToPhonemes phonememode: IPA
_RATE, _PITCH, _RANGE = 1, 3, 4
# Callback buffer: 0 = espeak's default (60 ms), as its CLI uses.  Part of the output: how much of an echoing
# variant's decaying tail espeak emits depends on it (larger buffers cost no less CPU here).
_BUFFER_MS = 0


class EspeakEngine:
    """espeak-ng in this process; one per process, created on first use (never at import): :meth:`get`.

    Every call loads the library, initialises it, works and unloads it (``dlclose``), so that the audio depends on
    (text, voice) only; it runs on a private data directory holding only the voice files in use, which keeps the
    reload cheap (``docs/tts.md``).  A lock serialises calls.
    """

    _lock = threading.Lock()
    _instance: "EspeakEngine | None" = None
    rate = 22050  # espeak-ng's native rate (checked at every initialisation)

    def __init__(self) -> None:
        import espeakng_loader

        self.lib_path = str(espeakng_loader.get_library_path())
        self.real_data = Path(espeakng_loader.get_data_path())
        if not (self.real_data / "phontab").is_file():
            raise RuntimeError(f"espeak-ng data not found at {self.real_data} (reinstall espeakng-loader)")
        self._chunks: list[bytes] = []
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
    def get(cls) -> "EspeakEngine":
        """The process's engine (created now if needed)."""
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance

    # -- callback -----------------------------------------------------------------------------------------------
    def _callback(self, wav, numsamples, events) -> int:
        if numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, 2 * numsamples))  # int16: a bytes copy is the cheapest
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
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
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

    def resolve(self, base: str, variant: str | None = None) -> str:
        """The espeak name to select (``identifier[+variant]``); ValueError saying what does not exist."""
        with self._lock:
            return self._resolve(base, variant)

    def _resolve(self, base: str, variant: str | None) -> str:  # with the lock held
        key = (base.lower(), variant)
        select = self._selectors.get(key)
        if select is None:
            if self._catalogue is None:
                self._catalogue = self._load_catalogue()
            ident = self._catalogue.get(key[0])
            if ident is None:
                raise ValueError(f"espeak-ng has no voice {base!r}")
            if variant is not None and variant not in self._variants:
                raise ValueError(f"espeak-ng has no variant {variant!r}")
            self._expose(ident, variant)
            select = self._selectors[key] = ident + (f"+{variant}" if variant else "")
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
    def synth(self, text: str, base: str, variant: str | None, rate: int, pitch: int
              ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """int16 samples at :attr:`rate` and the WORD events as (1-based character position, native sample).

        ``base``/``variant`` name the espeak voice and variant, ``rate`` is in words per minute, ``pitch`` 0-100.
        """
        with self._lock, deferred_interrupts():  # its audio callback runs Python: no Ctrl-C inside it
            select = self._resolve(base, variant)
            if self._private is not None and not (self._private / "phontab").exists():
                self._make_private()  # the temp directory was cleaned away under us: rebuild it
            lib = self._open(self.data)
            try:
                if lib.espeak_SetVoiceByName(select.encode()) != 0:
                    raise RuntimeError(f"espeak-ng could not select voice {select!r} (data at {self.data})")
                lib.espeak_SetParameter(_RATE, rate, 0)
                lib.espeak_SetParameter(_PITCH, pitch, 0)
                lib.espeak_SetParameter(_RANGE, 50, 0)
                lib.espeak_ng_SetRandSeed(0)
                self._chunks, self._events = [], []
                data = text.encode("utf-8") + b"\0"
                buf = ctypes.create_string_buffer(data, len(data))
                err = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                lib.espeak_Synchronize()
                if err != 0:
                    raise RuntimeError(f"espeak-ng failed on {text!r} (error {err})")
                pcm = np.frombuffer(bytearray().join(self._chunks), np.int16)  # one copy, writable
                events, self._chunks, self._events = self._events, [], []
                return pcm, events
            finally:
                self._close(lib)

    def phonemes(self, words: Sequence[str], voice: str = "en-us") -> dict[str, str]:
        """IPA for each of ``words`` from espeak-ng's letter-to-sound rules and dictionaries in ``voice`` (an espeak
        voice name, selected against the shipped data); ValueError if espeak cannot select that voice."""
        out: dict[str, str] = {}
        with self._lock:
            lib = self._open(self.real_data)
            try:
                if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise ValueError(f"espeak-ng has no voice {voice!r}")
                for w in words:
                    buf = ctypes.create_string_buffer(w.encode("utf-8") + b"\0")
                    ptr = ctypes.c_void_p(ctypes.addressof(buf))
                    parts = []
                    while ptr.value:
                        res = lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, _PHONEMES_IPA)
                        if res is None:
                            break
                        parts.append(res.decode("utf-8", "replace"))
                    out[w] = " ".join(parts)
            finally:
                self._close(lib)
        return out


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
    weakref.finalize(EspeakEngine, _remove_private_dir, str(private), os.getpid())  # removed at interpreter exit
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
    EspeakEngine._lock = threading.Lock()
    EspeakEngine._instance = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
