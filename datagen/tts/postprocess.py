"""Post-processing every backend shares: tokens, word ends from audio energy, trimming and level normalisation, so
that voices differ in timbre, pitch and rate but not in level (the room sets levels) or in how words are cut."""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from datagen.levels import ACTIVE_FLOOR_DB, LEVEL_FRAME, SPEECH_RMS
from datagen.schema import Word
from datagen.tts.base import Utterance

ENERGY_FRAME = LEVEL_FRAME  # 10 ms
WORD_FLOOR_DB = ACTIVE_FLOOR_DB  # a word ends at its last 10 ms frame within 40 dB of the utterance's loudest frame
MARGIN = 320  # 20 ms of context kept around the trimmed utterance
SILENCE_DB = -90.0  # an utterance whose loudest 10 ms frame is below this (dBFS power) is silence

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


def frame_energy_db(x: np.ndarray) -> np.ndarray:
    """Power (dB) of each 10 ms frame of ``x``, the last one zero-padded."""
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
    scaled so its voiced frames have RMS :data:`datagen.levels.SPEECH_RMS`.
    """
    toks = tokens(text)
    if len(starts) != len(toks) or (ends is not None and len(ends) != len(toks)):
        raise ValueError(f"{len(starts)} word times for {len(toks)} words in {text!r}")
    audio = np.asarray(audio, np.float32)
    if audio.size == 0:
        raise ValueError("empty audio")
    if not np.isfinite(audio).all():
        raise ValueError("audio has NaN or infinite samples")
    db = frame_energy_db(audio)
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
        clip *= np.float32(SPEECH_RMS / level)
    np.clip(clip, -1.0, 1.0, out=clip)
    clip.setflags(write=False)
    n = len(clip)
    words = [Word(w, min(max(s - lo, 0), n), min(max(e - lo, 0), n)) for (w, _, _), (s, e) in zip(toks, spans)]
    return Utterance(text=text, audio=clip, words=words, voice=voice)


def even_starts(text: str, audio: np.ndarray) -> list[int]:
    """Word starts spread over the voiced span in proportion to word length (for backends without timings)."""
    toks = tokens(text)
    db = frame_energy_db(np.asarray(audio, np.float32))
    active = db >= db.max() + WORD_FLOOR_DB
    first = int(np.argmax(active)) * ENERGY_FRAME
    last = (len(active) - int(np.argmax(active[::-1]))) * ENERGY_FRAME
    weights = np.array([len(w) + 1 for w, _, _ in toks], float)
    cum = np.concatenate([[0.0], np.cumsum(weights)[:-1]]) / weights.sum()
    return [int(first + c * (last - first)) for c in cum]
