"""The salmonn-omni adapter's ``voice=piper``: the model's text stream spoken word by word, silent after a stop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from benchmark.models.salmonn_omni import MAX_WORD_CHARS, TextVoice
from datagen.schema import BLOCK_SAMPLES


class FakeTTS:
    """3000 samples per word (a constant level per word); records what it was asked to say."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def synthesize(self, text: str, voice: str):
        if not any(c.isalpha() for c in text):
            raise ValueError(f"nothing to say: {text!r}")
        self.said.append(text)
        return SimpleNamespace(audio=np.full(3000, 0.1 * len(self.said), np.float32))


def test_words_are_spoken_once_complete_and_a_stop_drops_the_rest():
    tts = FakeTTS()
    voice = TextVoice(tts, "v")
    voice.feed("Hel")
    assert tts.said == [] and not voice.block().any()  # nothing is said before the word is complete
    voice.feed("lo wor")
    assert tts.said == ["Hello"]
    first, second = voice.block(), voice.block()
    assert first.shape == (BLOCK_SAMPLES,) and np.allclose(first, 0.1) and np.allclose(second, 0.1)
    voice.feed("ld. ")
    assert tts.said == ["Hello", "world."]
    voice.stop()
    assert not voice.block().any() and voice.word == ""


def test_a_model_that_never_emits_a_boundary_is_still_heard():
    tts = FakeTTS()
    voice = TextVoice(tts, "v")
    voice.feed("x" * (MAX_WORD_CHARS + 3))
    assert tts.said == ["x" * MAX_WORD_CHARS] and voice.word == "xxx"
    voice.feed(" , ")  # punctuation alone is not speech
    assert tts.said == ["x" * MAX_WORD_CHARS, "xxx"]
