"""Reference adapters that bound every metric: ``silent``, ``always_talk`` and ``oracle``.

* ``silent`` never speaks: take-over rate 0, pause take-over 0, and no barge-in can be measured (probes never fire).
* ``always_talk`` talks from the first block to the last (espeak-ng reading a long text in a loop, its words on
  the text stream): take-over 1 with early take-overs, pause take-over 1, and it never stops, so barge-in recall 0,
  no false alarms and precision 0 (nothing predicted), F1 0.
* ``oracle`` plays what the corpus's assistant played in the item's window, with its words on the text stream: it
  acts on the corpus labels (the generator's assistant channel *is* ideal behaviour: it answers after a human gap,
  holds through pauses, yields to true interruptions after a human stop latency and talks through distractors).
  It must score ideal on every task; a test pins that.  It looks one block ahead, which only an oracle may: the
  protocol plays block ``k``'s output during block ``k+1``, so it returns the reference one block early.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from benchmark.items import Materialized
from benchmark.protocol import ModelInfo, SessionInfo, StepOutput
from datagen.schema import BLOCK_SAMPLES

_ZERO = np.zeros(BLOCK_SAMPLES, np.float32)


class _Session:
    def close(self) -> None:
        pass


class SilentModel:
    info = ModelInfo("silent")

    def __init__(self, **_: Any) -> None:
        pass

    def open_session(self, info: SessionInfo) -> "_SilentSession":
        return _SilentSession()


class _SilentSession(_Session):
    def step(self, mic_block: np.ndarray) -> StepOutput:
        return StepOutput(_ZERO)


ALWAYS_TALK_TEXT = (
    "I will keep talking no matter what happens. The weather is mild today, with a light breeze from the west. "
    "Trains leave every ten minutes from the central station, and the last one departs just before midnight."
)


@lru_cache(maxsize=1)
def _talk_track() -> tuple[np.ndarray, list[tuple[int, str]]]:
    from datagen.tts import ASSISTANT_VOICE, get_backend

    # Commas, not full stops: espeak pauses ~150 ms at a comma and longer at a sentence end, and a stop-length
    # silence would read as the model yielding.
    utt = get_backend("espeak").synthesize(ALWAYS_TALK_TEXT.replace(". ", ", ").rstrip("."), ASSISTANT_VOICE)
    return np.asarray(utt.audio, np.float32), [(w.start, w.text) for w in utt.words]


class AlwaysTalkModel:
    info = ModelInfo("always_talk", text=True)

    def __init__(self, **_: Any) -> None:
        pass

    def open_session(self, info: SessionInfo) -> "_TalkSession":
        return _TalkSession(*_talk_track())


class _TalkSession(_Session):
    def __init__(self, audio: np.ndarray, words: list[tuple[int, str]]):
        self.audio, self.words, self.pos = audio, words, 0

    def step(self, mic_block: np.ndarray) -> StepOutput:
        n = len(self.audio)
        idx = (self.pos + np.arange(BLOCK_SAMPLES)) % n
        lo, hi = self.pos % n, (self.pos + BLOCK_SAMPLES) % n
        said = [w for s, w in self.words if (lo <= s < hi if lo < hi else (s >= lo or s < hi))]
        self.pos += BLOCK_SAMPLES
        return StepOutput(self.audio[idx], " ".join(said) or None)


class OracleModel:
    """Plays the item's reference (see the module docstring); it declares ``info.reference``, so the harness calls
    :meth:`prepare` with each item (the protocol's one hook for bounds)."""

    info = ModelInfo("oracle", text=True, reference=True)

    def __init__(self, **_: Any) -> None:
        self._item: Materialized | None = None

    def prepare(self, item: Materialized) -> None:
        self._item = item

    def open_session(self, info: SessionInfo) -> "_OracleSession":
        if self._item is None or self._item.spec.id != info.item_id:
            raise RuntimeError("oracle: the harness did not prepare this item (the oracle needs corpus labels)")
        return _OracleSession(self._item)


class _OracleSession(_Session):
    def __init__(self, item: Materialized):
        self.ref = np.concatenate([item.reference[BLOCK_SAMPLES:], np.zeros(2 * BLOCK_SAMPLES, np.float32)])
        self.words = item.reference_words
        self.k = 0

    def step(self, mic_block: np.ndarray) -> StepOutput:
        s = self.k * BLOCK_SAMPLES
        self.k += 1
        said = [w for t, w in self.words if s + BLOCK_SAMPLES <= t < s + 2 * BLOCK_SAMPLES]
        return StepOutput(self.ref[s : s + BLOCK_SAMPLES].copy(), " ".join(said) or None)
