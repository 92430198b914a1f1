"""Synthetic dialogues for the model tests: a record with word timings and matching toy audio, built in
milliseconds (no TTS, no room bank), so the default test run stays fast."""

from __future__ import annotations

import numpy as np

from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE, Dialogue, Event, Turn, Word, end_of_frame
from tests.conftest import toy_scene


def _words(text: str, start: int, word_len: int, gap: int) -> list[Word]:
    out, t = [], start
    for w in text.split():
        out.append(Word(w, t, t + word_len))
        t += word_len + gap
    return out


def toy_dialogue(seed: int = 0, blocks: int = 60, answer: str = "it is four") -> tuple[Dialogue, dict[str, np.ndarray]]:
    """User asks (blocks 2-14), assistant answers (from block 20), silence after; mic has the user's 'speech'
    (noise bursts) plus a quiet echo; the assistant channel has a tone per word."""
    rng = np.random.default_rng(seed)
    n = blocks * BLOCK_SAMPLES
    q = _words("what is two plus two", 2 * BLOCK_SAMPLES, 3000, 800)
    a = _words(answer, 20 * BLOCK_SAMPLES, 4000, 600)
    turns = [
        Turn("user", "question", "what is two plus two", q[0].start, q[-1].end, q),
        Turn("assistant", "answer", answer, a[0].start, a[-1].end, a),
    ]
    dlg = Dialogue(id=f"toy-{seed}", scenario="qa", seed=seed, num_samples=n, turns=turns,
                   scene=toy_scene(echo_gain=0.1, echo_delay=0))
    dlg.validate()
    t = np.arange(n) / SAMPLE_RATE
    user = np.zeros(n, np.float32)
    for w in q:
        user[w.start:w.end] = rng.standard_normal(w.end - w.start) * 0.2
    asst = np.zeros(n, np.float32)
    for i, w in enumerate(a):
        asst[w.start:w.end] = 0.3 * np.sin(2 * np.pi * (300 + 150 * i) * t[w.start:w.end])
    mic = (user + 0.1 * asst + rng.standard_normal(n) * 0.001).astype(np.float32)
    return dlg, {"mic": mic, "assistant": asst.astype(np.float32)}


def interrupted_toy_dialogue(seed: int = 0, blocks: int = 60) -> tuple[Dialogue, dict[str, np.ndarray]]:
    """:func:`toy_dialogue` with a longer answer that a "wait stop" barge-in cuts at the end of its decision's
    block (as the generator does); the assistant channel is silent from the next block on."""
    dlg, audio = toy_dialogue(seed, blocks, answer="it is four and that is all")
    ans = dlg.turns[1]
    onset = ans.start + 8 * BLOCK_SAMPLES
    line = _words("wait stop", onset, 3000, 800)
    decision = line[0].end + 2000
    cut = end_of_frame(decision)
    ans.words = [Word(w.text, w.start, min(w.end, cut)) for w in ans.words if w.start < cut]
    ans.full_text, ans.text, ans.end, ans.truncated = ans.text, " ".join(w.text for w in ans.words), cut, True
    dlg.turns.append(Turn("user", "interruption", "wait stop", line[0].start, line[-1].end, line))
    dlg.events.append(Event("interruption", onset, line[-1].end, "stop", turn=2, speaker="user",
                            context="independent", decision=decision, meta={"cue_words": 1}))
    dlg.validate()
    audio["assistant"][cut:] = 0.0
    return dlg, audio
