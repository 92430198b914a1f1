"""An LRU cache over a TTS backend: lexicon lines and bank answers recur across dialogues, and synthesis is the
generator's main CPU cost after rendering."""

from __future__ import annotations

from collections import OrderedDict

from datagen.tts.base import TTSBackend, Utterance


class CachedTTS:
    """``backend`` behind a (text, voice) -> Utterance LRU of ``max_items``; utterances are read-only, so shared."""

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
