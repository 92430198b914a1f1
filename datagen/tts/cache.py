"""TTS caches over any backend: an in-process LRU and a persistent on-disk cache, keyed by (backend, voice,
parameters, text), so bank answers and lexicon lines that recur across dialogues and runs are synthesised once.

On disk (``cache_dir("tts")``, or ``$DUPLEXKIT_TTS_CACHE``; ``off`` disables it) each utterance is one file
``<backend>/<key[:2]>/<key>.utt``: a JSON header line (text, voice, words) and the float32 16 kHz samples.  The key
is the sha256 of the backend's :meth:`cache_key` (its name, package version and every synthesis parameter), the
post-processing version, the voice and the text, so a changed parameter or library is a different entry.  Entries
are written atomically (temp file + rename, no fsync: a rebuildable cache); one that does not read back whole is
treated as a miss and rewritten.  Synthesis is deterministic, so a hit gives the bytes a miss would have.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from datagen.common.cache import cache_dir
from datagen.common.files import WriteError, atomic_write_bytes
from datagen.schema import Word
from datagen.tts.base import TTSBackend, Utterance

POSTPROCESS_VERSION = 1  # bump when datagen.tts.postprocess changes what it makes of a backend's audio


def disk_cache_root() -> Path | None:
    """Where cached utterances live; None when ``DUPLEXKIT_TTS_CACHE=off``."""
    env = os.environ.get("DUPLEXKIT_TTS_CACHE")
    if env and env.lower() in ("off", "0", "none", "false"):
        return None
    return Path(env) if env else cache_dir("tts")


def backend_key(backend: TTSBackend) -> dict | None:
    """What the backend's audio depends on besides (text, voice); None for backends that do not say (coqui,
    recordings): those are never cached on disk."""
    key = getattr(backend, "cache_key", None)
    return key() if callable(key) else None


class CachedTTS:
    """``backend`` behind a (text, voice) LRU of ``max_items`` and, when ``disk`` (default), the on-disk cache.

    Utterances are read-only, so sharing them is safe.  ``hits`` (memory), ``disk_hits`` and ``misses`` count calls.
    """

    def __init__(self, backend: TTSBackend, max_items: int = 4096, disk: bool | str | Path = True):
        self.backend = backend
        self.name = backend.name
        self.max_items = max_items
        self.hits = 0
        self.disk_hits = 0
        self.misses = 0
        self.io_seconds = 0.0  # CPU time reading and writing cache entries (part of what speech costs)
        self._cache: OrderedDict[tuple[str, str], Utterance] = OrderedDict()
        bkey = backend_key(backend)
        root = (disk_cache_root() if disk is True else Path(disk)) if disk and bkey is not None else None
        self.root = root / self.name if root is not None else None
        self._prefix = json.dumps({"b": bkey, "post": POSTPROCESS_VERSION}, sort_keys=True)

    @property
    def cpu_seconds(self) -> float:
        """What speech cost: the backend's synthesis plus this cache's disk reads and writes."""
        return self.backend.cpu_seconds + self.io_seconds

    def voices(self) -> list[str]:
        return self.backend.voices()

    def counts(self) -> dict[str, int]:
        return {"hits": self.hits, "disk_hits": self.disk_hits, "misses": self.misses}

    def synthesize(self, text: str, voice: str) -> Utterance:
        key = (text, voice)
        if key in self._cache:
            self.hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        path = self._path(text, voice)
        utt = None
        if path is not None:
            t0 = time.process_time()
            utt = _read(path, text, voice)
            self.io_seconds += time.process_time() - t0
        if utt is not None:
            self.disk_hits += 1
        else:
            self.misses += 1
            utt = self.backend.synthesize(text, voice)
            if path is not None:
                t0 = time.process_time()
                _write(path, utt)
                self.io_seconds += time.process_time() - t0
        self._cache[key] = utt
        if len(self._cache) > self.max_items:
            self._cache.popitem(last=False)
        return utt

    def _path(self, text: str, voice: str) -> Path | None:
        if self.root is None:
            return None
        digest = hashlib.sha256(json.dumps([self._prefix, voice, text]).encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.utt"


def _write(path: Path, utt: Utterance) -> None:
    head = json.dumps({"text": utt.text, "voice": utt.voice, "n": len(utt.audio),
                       "words": [[w.text, w.start, w.end] for w in utt.words]})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, head.encode() + b"\n" + np.asarray(utt.audio, "<f4").tobytes(), durable=False)
    except (OSError, WriteError):
        pass  # a read-only or full cache only costs speed


def _read(path: Path, text: str, voice: str) -> Utterance | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        cut = data.index(b"\n")
        head = json.loads(data[:cut])
        audio = np.frombuffer(data, "<f4", offset=cut + 1)
        if head["text"] != text or head["voice"] != voice or len(audio) != head["n"]:
            return None
        words = [Word(str(w), int(s), int(e)) for w, s, e in head["words"]]
    except (ValueError, KeyError, TypeError):
        return None
    audio.setflags(write=False)  # a view of the bytes read: read-only already
    return Utterance(text=text, audio=audio, words=words, voice=voice)
