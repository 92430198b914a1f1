"""The target token stream of one dialogue: one token per 80 ms block, derived from the record alone.

SALMONN-omni's explicit thinking: ``<think>`` in every block while listening (and while speaking when no text is
due: between words, or while the synthesizer catches up after the text is done), ``<shift>`` at listen->speak
and speak->listen, one text token per block while speaking.

Timing (``D = SYNTH_DELAY_BLOCKS``; the contract of ARCHITECTURE.md): step ``k`` reads mic block ``k`` and the
block the model itself is playing (assistant channel block ``k``) and produces the audio of block ``k+1``,
conditioned on the token of step ``k+1-D``.  Starting speech waits for the synthesizer: a listen->speak ``<shift>``
at step ``s`` is heard from block ``s+D``, and a word's text tokens start ``D`` steps before the word is heard.
Stopping is immediate (barge-in): a speak->listen ``<shift>`` at step ``k`` silences the audio from block ``k+1``
on, so audio block ``j`` plays only while every mode of steps ``j-D .. j-1`` is speaking (:func:`audible_from_mode`).
So the closing ``<shift>`` sits in the last speaking frame of the ``state`` track of
:func:`datagen.schema.frame_labels`: at a natural end, after ``<think>`` while the synthesizer plays out the last
text; for an interruption, in the block of its causal ``decision`` (the corpus assistant stops at that block's end).
Text tokens, one per block, never come before the opening ``<shift>`` nor after the closing one (an interrupted
answer loses its unsaid tokens; a tokenizer that needs more tokens than there are blocks, like the tiny byte
tokenizer, drops the overflow).

A *late stop* (an interruption event with ``meta.late_stop_blocks`` k, from a train corpus made with
``late_stop_prob``) is the one place where what was played and what should have been said differ: the corpus
assistant talks on for k blocks past the decision.  ``inputs`` (fed back, and the mode) follow the played stream;
``tokens`` (the targets) ask for ``<shift>`` at the decision's block and at every block of the overrun.  A model that
missed the decision's block, and still talks over the user, so learns to stop at the next one, where the ideal
stream alone would teach that the stop happens in one block or never (closed-loop stops were single-block spikes of
p(``<shift>``), docs/training.md).

A second task, ``transcribe`` (stage 1's ASR-style listening), has its own stream on the same audio:
:func:`build_transcription_targets`.  The two streams contradict each other (the duplex stream thinks while the
user talks), so a window carries its task (``task`` in the batch, an index into :data:`TASKS`) and the model adds
a learned task vector to that window's inputs; ``duplex`` is index 0 and adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from datagen.schema import BLOCK_SAMPLES, SYNTH_DELAY_BLOCKS, Dialogue, Turn, Word, frame_labels, frame_of

from .tokens import SHIFT, THINK


TASKS = ("duplex", "transcribe")  # per-window tasks; index 0 is the default and changes nothing


@dataclass
class Targets:
    tokens: np.ndarray  # (T,) int64 target token id per step
    mode: np.ndarray  # (T,) int8: 1 when the model is in its speaking mode after step k's input token
    audible: np.ndarray  # (T,) int8: 1 when audio block j is synthesised (see audible_from_mode)
    inputs: np.ndarray | None = None  # (T,) int64 token fed back per step, where it differs from ``tokens``

    @property
    def fed(self) -> np.ndarray:
        """The token fed back at each step: the played stream (``tokens`` unless a late stop made them differ)."""
        return self.tokens if self.inputs is None else self.inputs


def _spans(state: np.ndarray) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, v in enumerate(np.append(state, 0)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _words(turn: Turn) -> list[Word]:
    """The turn's words; a turn without timings gets its text spread evenly over its span."""
    if turn.words:
        return list(turn.words)
    parts = turn.text.split()
    if not parts:
        return []
    step = (turn.end - turn.start) / len(parts)
    return [Word(p, int(turn.start + i * step), int(turn.start + (i + 1) * step)) for i, p in enumerate(parts)]


def mode_from_tokens(tokens: Sequence[int], shift_id: int) -> np.ndarray:
    """Speaking mode after each step: each ``<shift>`` toggles it."""
    mode = np.zeros(len(tokens), np.int8)
    m = 0
    for k, t in enumerate(tokens):
        if t == shift_id:
            m = 1 - m
        mode[k] = m
    return mode


def audible_from_mode(mode: np.ndarray, delay: int = SYNTH_DELAY_BLOCKS) -> np.ndarray:
    """Audio block ``j`` plays when steps ``j-delay .. j-1`` were all speaking: start ``delay`` late, stop at once."""
    out = np.zeros_like(mode)
    run = 0
    for j in range(1, len(mode)):
        run = run + 1 if mode[j - 1] else 0  # speaking steps ending at j-1
        out[j] = run >= delay
    return out


def mode_before(mode, inputs, shift_id: int):
    """The speaking mode before each step (what the step's token is decided under), from the mode after it and the
    token fed at it; numpy arrays or tensors, any window crop."""
    return mode ^ (inputs == shift_id)


def stop_shifts(tokens, mode, shift_id: int, inputs=None):
    """Where the speak->listen ``<shift>`` targets are (a ``<shift>`` due while speaking), as a mask of ``tokens``'
    shape; numpy arrays or tensors; ``inputs`` the fed tokens where they differ (late stops).  The start/stop split
    of the loss weights, eval and probes."""
    return (tokens == shift_id) & (mode_before(mode, tokens if inputs is None else inputs, shift_id) == 1)


def plays_next_block(modes: Sequence[int], delay: int = SYNTH_DELAY_BLOCKS) -> bool:
    """The streaming side of :func:`audible_from_mode`: given the modes so far, is the next block audible?"""
    return len(modes) >= delay and all(modes[-delay:])


def build_targets(dialogue: Dialogue, tokenizer, labels: Mapping[str, np.ndarray] | None = None,
                  delay: int = SYNTH_DELAY_BLOCKS) -> Targets:
    labels = labels if labels is not None else frame_labels(dialogue)
    state = np.asarray(labels["state"])
    n = len(state)
    think, shift = tokenizer.convert_tokens_to_ids(THINK), tokenizer.convert_tokens_to_ids(SHIFT)
    tokens = np.full(n, think, np.int64)
    turns = [t for t in dialogue.turns if t.speaker == "assistant" and t.kind != "backchannel"]
    last_out = -1
    first_word = True  # words are space-separated in the text stream, across turns too
    for a, b in _spans(state):
        s_in = max(a - delay, last_out + 1, 0)
        s_out = b - 1 if b < n else n  # closing <shift> in the last speaking frame; none for a span running on
        if s_out <= s_in:
            continue
        tokens[s_in] = shift
        if s_out < n:
            tokens[s_out] = shift
            last_out = s_out
        cursor = s_in + 1
        for t in turns:
            if frame_of(t.end - 1) < a or frame_of(t.start) >= b:
                continue
            for w in _words(t):
                # a word belongs to the span it overlaps (its first samples may sit in the block before `a`,
                # which the half-block majority rule of frame_labels leaves out of the span)
                if frame_of(w.start) >= b or frame_of(max(w.end - 1, w.start)) < a:
                    continue
                ids = tokenizer.encode(w.text if first_word else " " + w.text)
                first_word = False
                cursor = max(cursor, frame_of(w.start) - delay)
                for tid in ids:
                    if cursor >= s_out:
                        break
                    tokens[cursor] = tid
                    cursor += 1
    mode = mode_from_tokens(tokens, shift)
    late = _late_stop_targets(dialogue, tokens, shift)
    return Targets(tokens if late is None else late, mode, audible_from_mode(mode, delay),
                   None if late is None else tokens)


def _late_stop_targets(dialogue: Dialogue, played: np.ndarray, shift: int) -> np.ndarray | None:
    """The targets of a dialogue with late stops (``<shift>`` from each one's decision block to its closing
    ``<shift>``), or None when it has none."""
    out = None
    for e in dialogue.events:
        k = int(e.meta.get("late_stop_blocks", 0))
        if not k or e.decision is None:
            continue
        d = frame_of(e.decision)
        if d + k < len(played) and played[d + k] == shift:  # the played stream closes at the overrun's end
            out = played.copy() if out is None else out
            out[d:d + k] = shift
    return out


def overrun_blocks(tokens, inputs, shift_id: int):
    """The blocks of late stops where the model talked on (a ``<shift>`` target, another token fed), as a mask of
    ``tokens``' shape; numpy arrays or tensors."""
    return (tokens == shift_id) & (inputs != tokens)


def build_transcription_targets(dialogue: Dialogue, tokenizer) -> Targets:
    """The ``transcribe`` stream: the user's words as text tokens, causally, ``<think>`` elsewhere.

    A word's tokens start in the block where its last sample lies (step ``k`` has heard mic block ``k``), never
    earlier; a word whose tokens would overlap the previous word's queue after it, one token per block; tokens past
    the dialogue's end are dropped.  No ``<shift>`` and no speaking mode: the synthesizer stays silent."""
    n = dialogue.num_frames
    think = tokenizer.convert_tokens_to_ids(THINK)
    tokens = np.full(n, think, np.int64)
    words = sorted((w for t in dialogue.turns if t.speaker == "user" for w in _words(t)), key=lambda w: w.end)
    cursor = 0
    for i, w in enumerate(words):
        ids = tokenizer.encode(w.text if i == 0 else " " + w.text)
        cursor = max(cursor, frame_of(max(w.end - 1, w.start)))
        for tid in ids:
            if cursor >= n:
                break
            tokens[cursor] = tid
            cursor += 1
    zeros = np.zeros(n, np.int8)
    return Targets(tokens, zeros, zeros.copy())


def background_lead(noise: np.ndarray, samples: int) -> np.ndarray:
    """``samples`` of a dialogue's background noise stem (repeated from its start when shorter): what a mic hears
    before anyone speaks, put before a window (training's ``data.lead_seconds``) or a probe's audio."""
    noise = np.asarray(noise, np.float32)
    return np.resize(noise, samples) if len(noise) else np.zeros(samples, np.float32)


def make_batch(items: Sequence[tuple[Dialogue, Mapping[str, np.ndarray]]], tokenizer, max_blocks: int | None = None,
               start_blocks: Sequence[int] | None = None, tasks: Sequence[str] | None = None,
               lead_blocks: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Corpus items (``Corpus.iter_audio()`` pairs) -> padded numpy batch of whole blocks.

    Keys: ``mic``/``assistant`` (B, T*1280) float32, ``tokens`` (B, T) int64, ``mode``/``audible`` (B, T) int8,
    ``valid`` (B, T) bool, and ``inputs`` (B, T) int64 when a row has a late stop (the fed tokens).
    ``start_blocks`` crops each dialogue at a block (a window of ``max_blocks``); targets are computed on the whole
    dialogue first, so a crop never changes them.  ``tasks`` (one of :data:`TASKS` per
    item) picks each row's target stream and adds ``task`` (B,) int64; without it every row is ``duplex`` and the
    batch is as before.  ``lead_blocks`` puts that many blocks of the dialogue's background noise (``audio['noise']``)
    before each row, listened to (``<think>``, silent), and ends the row as much earlier (``max_blocks`` still holds).
    """
    rows = []
    for i, (dlg, audio) in enumerate(items):
        task = "duplex" if tasks is None else tasks[i]
        if task not in TASKS:
            raise ValueError(f"task {task!r} (expected one of {', '.join(TASKS)})")
        tg = build_targets(dlg, tokenizer) if task == "duplex" else build_transcription_targets(dlg, tokenizer)
        n = dlg.num_frames
        s = 0 if start_blocks is None else int(start_blocks[i])
        lead = 0 if lead_blocks is None else int(lead_blocks[i])
        e = n if max_blocks is None else min(n, s + max_blocks - lead)
        sl = slice(s * BLOCK_SAMPLES, e * BLOCK_SAMPLES)

        def chan(name: str) -> np.ndarray:
            x = np.asarray(audio[name], np.float32)[sl]
            return np.pad(x, (0, (e - s) * BLOCK_SAMPLES - len(x)))

        row = (chan("mic"), chan("assistant"), tg.tokens[s:e], tg.mode[s:e], tg.audible[s:e], tg.fed[s:e])
        if lead:
            if "noise" not in audio:
                raise ValueError(f"{dlg.id}: a lead of background noise needs the dialogue's noise stem")
            think = tokenizer.convert_tokens_to_ids(THINK)
            pre = (background_lead(audio["noise"], lead * BLOCK_SAMPLES), np.zeros(lead * BLOCK_SAMPLES, np.float32),
                   np.full(lead, think, np.int64), np.zeros(lead, np.int8), np.zeros(lead, np.int8),
                   np.full(lead, think, np.int64))
            row = tuple(np.concatenate([p, np.asarray(r, p.dtype)]) for p, r in zip(pre, row))
        rows.append(row)
    T = max(len(r[2]) for r in rows)
    B = len(rows)
    out = {
        "mic": np.zeros((B, T * BLOCK_SAMPLES), np.float32),
        "assistant": np.zeros((B, T * BLOCK_SAMPLES), np.float32),
        "tokens": np.zeros((B, T), np.int64),
        "mode": np.zeros((B, T), np.int8),
        "audible": np.zeros((B, T), np.int8),
        "valid": np.zeros((B, T), bool),
    }
    out["inputs"] = np.zeros((B, T), np.int64)
    for b, (mic, asst, tok, mode, aud, fed) in enumerate(rows):
        t = len(tok)
        out["mic"][b, : len(mic)] = mic
        out["assistant"][b, : len(asst)] = asst
        for key, seq in (("tokens", tok), ("inputs", fed)):
            out[key][b, :t] = seq
            out[key][b, t:] = seq[-1] if t else 0
        out["mode"][b, :t], out["audible"][b, :t], out["valid"][b, :t] = mode, aud, True
    if np.array_equal(out["inputs"], out["tokens"]):  # only batches with a late stop carry the fed tokens
        del out["inputs"]  # (model.salmonn: ``inputs``, default ``tokens``)
    if tasks is not None:
        out["task"] = np.array([TASKS.index(t) for t in tasks], np.int64)
    return out
