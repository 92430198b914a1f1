"""The timeline builder's sample arithmetic: placing, cutting (the assistant yielding) and the word bookkeeping.

These use a tone-per-word synthesiser so the expected spans are known exactly; the real TTS is exercised by the
generator tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen.distributions import REFERENCE
from datagen.schema import Word, seconds_to_samples
from datagen.timeline import DialogueBuilder, Voices

WORD = seconds_to_samples(0.3)
GAP = seconds_to_samples(0.1)


@dataclass
class Utt:
    text: str
    audio: np.ndarray
    words: list[Word]
    voice: str


def tones(text: str, voice: str) -> Utt:
    words, chunks, t = [], [], 0
    for w in text.split():
        chunks += [np.full(WORD, 0.5, np.float32), np.zeros(GAP, np.float32)]
        words.append(Word(w, t, t + WORD))
        t += WORD + GAP
    return Utt(text, np.concatenate(chunks)[: t - GAP], words, voice)


def builder() -> DialogueBuilder:
    return DialogueBuilder(tones, tones, Voices("u", "a", "t"), np.random.default_rng(0), dict(REFERENCE))


def test_place_shifts_words_to_absolute_time():
    b = builder()
    i, _ = b.say("user", "question", "one two three", 1000)
    t = b.turns[i]
    assert (t.start, t.end) == (1000, 1000 + 3 * WORD + 2 * GAP)
    assert [w.start for w in t.words] == [1000, 1000 + WORD + GAP, 1000 + 2 * (WORD + GAP)]


def test_cut_drops_later_words_and_fades():
    b = builder()
    i, _ = b.say("assistant", "answer", "a b c d", 0)
    at = WORD + GAP + WORD // 2  # in the middle of the second word
    b.cut(i, at)
    t = b.turns[i]
    assert t.truncated and t.full_text == "a b c d" and t.text == "a b"
    assert t.end == at and t.words[-1].end == at
    clip = b.clips[0].audio
    assert len(clip) == at and clip[-1] == 0.0 and clip[0] == 0.5


def test_spoken_before_is_what_was_heard():
    b = builder()
    i, _ = b.say("assistant", "answer", "paris is the capital", 0)
    assert b.spoken_before(i, 2 * (WORD + GAP) + 1) == "paris is the"


def test_independent_cue_is_the_first_word_unless_it_sounds_like_a_backchannel():
    from datagen.content.lexicon import USER_BACKCHANNELS
    from datagen.timeline import independent_cue_words

    assert independent_cue_words("wait, stop", USER_BACKCHANNELS) == 1
    assert independent_cue_words("okay, that's enough", USER_BACKCHANNELS) == 2  # "okay" is a backchannel
    assert independent_cue_words("okay okay, I got it", USER_BACKCHANNELS) == 2  # "okay, cool" shares one word
    assert independent_cue_words("okay", USER_BACKCHANNELS) == 1  # never past the line


def test_a_paused_question_is_one_utterance_cut_in_the_silence_between_its_parts():
    """synth_parts: one synthesis (so no utterance-final fall before the pause), cut mid-gap between the parts'
    words; each part keeps its own words, relative to its audio; a backend timing words otherwise falls back."""
    calls: list[str] = []

    def counted(text: str, voice: str) -> Utt:
        calls.append(text)
        return tones(text, voice)

    b = DialogueBuilder(counted, counted, Voices("u", "a", "t"), np.random.default_rng(0), dict(REFERENCE))
    head, tail = b.synth_parts("user", ("what is the", "um, capital"))
    assert calls == ["what is the um, capital"]
    cut = 3 * (WORD + GAP) - GAP // 2  # the middle of the gap after the third word
    assert (len(head.audio), len(tail.audio)) == (cut, 2 * WORD + GAP + GAP // 2)
    assert [w.text for w in head.words] == ["what", "is", "the"] and head.text == "what is the"
    assert [(w.start, w.end) for w in tail.words] == [(GAP // 2, GAP // 2 + WORD), (GAP // 2 + WORD + GAP,
                                                                                   GAP // 2 + 2 * WORD + GAP)]
    assert head.audio[-1] == 0.0 and tail.audio[0] == 0.0  # the cut falls in silence
    assert b.synth_parts("user", ("a b", "c"))[0].audio.flags.writeable is False

    def merged(text: str, voice: str) -> Utt:  # times the words as one
        u = tones(text, voice)
        return Utt(u.text, u.audio, [Word(text, 0, len(u.audio))], voice)

    b = DialogueBuilder(merged, merged, Voices("u", "a", "t"), np.random.default_rng(0), dict(REFERENCE))
    assert [u.text for u in b.synth_parts("user", ("a b", "c d"))] == ["a b", "c d"]


def test_the_tts_reuse_stats_count_a_paused_question_as_one_synthesis():
    """stats.json's tts_cache counts what was synthesised: a question and its continuation are one request (their
    joined text, as synth_parts asks the TTS), so a question said twice is one hit, not two misses then two hits."""
    from datagen.corpus import tts_requests, tts_reuse
    from datagen.schema import Dialogue

    b = DialogueBuilder(tones, tones, Voices("u", "a", "t"), np.random.default_rng(0), dict(REFERENCE))
    for start in (0, seconds_to_samples(10)):
        head, tail = b.synth_parts("user", ("what is the", "capital"))
        b.place("user", "question", head, start)
        b.say("assistant", "backchannel", "mm-hm", start + len(head.audio))
        b.place("user", "continuation", tail, start + seconds_to_samples(2))
    d = Dialogue("d0", "pause_handling", 0, seconds_to_samples(20), turns=b.turns)
    assert tts_requests(d) == [("user", "u", "what is the capital"), ("assistant", "a", "mm-hm")] * 2
    stats = tts_reuse([d])
    assert (stats["requests"], stats["distinct"], stats["hit_rate"]) == (4, 2, 0.5)
    assert stats["hit_rate_by_speaker"] == {"assistant": 0.5, "user": 0.5}
