"""Static pairs: every decision point of a corpus dialogue, chosen = the labelled behaviour, rejected = the typical
failure there.

=================== ============================== ==================================== ==========================
kind                divergence block ``D``          chosen (the corpus)                  rejected
=================== ============================== ==================================== ==========================
interruption        the causal decision's block     ``<shift>`` (stops)                  keeps talking ("deaf ear")
user_backchannel,   after the line's first word     keeps talking                        ``<shift>``: stops
distractor (while   (or 300 ms into a sound without                                      ("yes-man")
speaking)           words)
distractor (while   the block after it ends         holds (``<think>``)                  ``<shift>``: takes the turn
listening)
pause               200 ms into the in-turn pause   holds                                ``<shift>``: takes over
end_of_turn         the corpus's opening ``<shift>`` takes the turn within the            stays silent
                                                    reference gap
echo_only           1 s into a stretch of an answer keeps talking                        ``<shift>``: stops
                    with nothing but its echo
=================== ============================== ==================================== ==========================

Spans.  A branch's inputs past ``D`` are rendered for its own behaviour only where they are known: a branch that stops
(or stays silent) plays silence from block ``D+1`` and its mic loses the echo of what it no longer plays (the echo of
earlier blocks fades out through the scene's one echo path, :func:`datagen.acoustics.echo.render_echo`); a branch
that starts talking is silent for the synthesizer's ``SYNTH_DELAY_BLOCKS`` anyway; a branch that keeps talking where
the corpus stopped has no audio past ``D``.  So the span is ``span_blocks`` long where both branches' inputs are
known, at most ``SYNTH_DELAY_BLOCKS`` when one branch starts talking, and one block (the decision itself) when a
branch would keep talking without recorded audio (interruptions here; false alarms of runs).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from datagen.acoustics.echo import render_echo
from datagen.schema import (BLOCK_SAMPLES, SYNTH_DELAY_BLOCKS, Dialogue, Turn, Word, frame_labels, frame_of,
                            frame_start, seconds_to_samples)

from .record import Pair, PairTokens

CUE_S = 0.3  # a sound without word timings counts as heard this long after its start
PAUSE_TAKEOVER_S = 0.2  # how far into an in-turn pause a too-eager turn-taker shifts
ECHO_LEAD_S = 1.0  # an echo-only decision sits this far into a clean stretch of the answer
ECHO_CLEAR_S = 1.0  # nothing but the echo this long before it (and through the span)


@dataclass
class PairOptions:
    context_blocks: int = 50  # prefix blocks before the divergence (4 s)
    span_blocks: int = 8  # the longest scored span
    weights: Mapping[str, float] | None = None  # per kind; default 1.0

    def weight(self, kind: str) -> float:
        return float((self.weights or {}).get(kind, 1.0))


def silenced(mic: np.ndarray, asst: np.ndarray, a: int, b: int, echo_of: Callable[[np.ndarray], np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Mic and assistant samples ``[a, b)`` of a branch that plays nothing from ``a`` on: the assistant is silent and
    the mic loses the echo of what is no longer played (the echo of what played before ``a`` rings on)."""
    seg = np.asarray(asst[a:b], np.float32)
    return (np.asarray(mic[a:b], np.float32) - echo_of(seg)).astype(np.float32), np.zeros(b - a, np.float32)


def grammar_ok(mode_before: int, tokens: Sequence[int], think: int, shift: int) -> bool:
    """Text only while speaking (each ``<shift>`` toggles the mode), the rule the model's decoder enforces."""
    m = mode_before
    for t in tokens:
        if t == shift:
            m = 1 - m
        elif t != think and not m:
            return False
    return True


def make_pair(*, id: str, kind: str, source: str, dialogue: str, tokens_all: np.ndarray, mode_all: np.ndarray,
              D: int, E: int, chosen: Sequence[int], rejected: Sequence[int], mic: np.ndarray, asst: np.ndarray,
              chosen_audio: tuple[np.ndarray, np.ndarray], rejected_audio: tuple[np.ndarray, np.ndarray],
              opts: PairOptions, tk: PairTokens, echo_factor: float, outcome: str = "",
              meta: dict[str, Any] | None = None) -> Pair | None:
    """A pair over window blocks ``[w0, E)`` with ``w0 = D - context``; ``chosen_audio``/``rejected_audio`` cover
    samples ``[start(D+1), start(E))``.  None when the branches do not differ or break the token grammar."""
    chosen, rejected = np.asarray(chosen, np.int64), np.asarray(rejected, np.int64)
    if E <= D or D < 1 or np.array_equal(chosen, rejected):
        return None
    before = int(mode_all[D - 1])
    if not (grammar_ok(before, chosen, tk.think, tk.shift) and grammar_ok(before, rejected, tk.think, tk.shift)):
        return None
    w0 = max(0, D - opts.context_blocks)
    a, b = frame_start(w0), frame_start(D + 1)
    return Pair(id=id, kind=kind, source=source, dialogue=dialogue, start=a, divergence=D - w0, span_end=E - w0,
                prefix_tokens=np.asarray(tokens_all[w0:D], np.int64), chosen=chosen, rejected=rejected,
                mic=_fit(mic[a:b], b - a), assistant=_fit(asst[a:b], b - a),
                chosen_mic=chosen_audio[0], chosen_assistant=chosen_audio[1],
                rejected_mic=rejected_audio[0], rejected_assistant=rejected_audio[1],
                echo_factor=float(echo_factor), weight=opts.weight(kind), outcome=outcome,
                start_mode=int(mode_all[w0 - 1]) if w0 > 0 else 0, meta=meta or {})


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def _continued(d: Dialogue, turn_index: int) -> Dialogue:
    """The dialogue as if the interrupted turn had gone on: its unsaid words after the cut, at the pace of the said
    ones (the rejected branch's text stream; there is no audio of them)."""
    v = copy.deepcopy(d)
    t: Turn = v.turns[turn_index]
    if not t.truncated or not t.full_text or not t.words:
        return v
    said = [w.text for w in t.words]
    rest = t.full_text.split()[len(said):]
    pitch = max(BLOCK_SAMPLES, (t.words[-1].end - t.words[0].start) // max(1, len(t.words)))
    at, words = t.end, list(t.words)
    for w in rest:
        if at + pitch > v.num_samples:
            break
        words.append(Word(w, at, at + pitch - BLOCK_SAMPLES // 4))
        at += pitch
    t.words, t.text, t.end, t.truncated = words, " ".join(x.text for x in words), max(t.end, words[-1].end), False
    v.events = [e for e in v.events if not (e.type == "interruption" and e.decision is not None)]
    return v


def _first_word_end(d: Dialogue, ev: Any) -> int:
    if ev.turn is not None and d.turns[ev.turn].words:
        return d.turns[ev.turn].words[0].end
    return min(ev.end, ev.start + seconds_to_samples(CUE_S))


def _speaking_span_end(tokens: np.ndarray, mode: np.ndarray, D: int, E: int, shift: int) -> int:
    """``E`` cut before the first ``<shift>`` after ``D`` (the chosen branch keeps talking through the span)."""
    for k in range(D + 1, E):
        if tokens[k] == shift or not mode[k]:
            return k
    return E


def label_pairs(d: Dialogue, audio: Mapping[str, np.ndarray], tk: PairTokens, bank: Any, opts: PairOptions,
                kinds: Sequence[str]) -> list[Pair]:
    """Every static pair of one dialogue (``audio``: its ``mic`` and ``assistant``), in a fixed order."""
    T = np.asarray(tk.targets(d), np.int64)
    mode = np.asarray(tk.mode(T), np.int8)
    n = len(T)
    labels = frame_labels(d)
    mic, asst = audio["mic"], audio["assistant"]
    scene = d.scene
    gain = float(scene.echo.gain or 0.0) if scene is not None else 0.0
    ef = float(scene.echo.echo_factor) if scene is not None else 0.0
    W, S = opts.span_blocks, min(opts.span_blocks, SYNTH_DELAY_BLOCKS)
    think, shift = tk.think, tk.shift
    out: list[Pair] = []

    def echo_of(seg: np.ndarray) -> np.ndarray:
        if scene is None or gain == 0.0:
            return np.zeros(len(seg), np.float32)
        return render_echo(seg, scene, bank, gain)

    def corpus_audio(D: int, E: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = frame_start(D + 1), frame_start(E)
        return _fit(mic[a:b], b - a), _fit(asst[a:b], b - a)

    def stopped_audio(D: int, E: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = frame_start(D + 1), frame_start(E)
        m, s = silenced(_fit(mic[: b], b), _fit(asst[: b], b), a, b, echo_of)
        return m, s

    def add(kind: str, D: int, E: int, chosen, rejected, c_audio, r_audio, **meta) -> None:
        if kind not in kinds or not 1 <= D < n or E > n:
            return
        p = make_pair(id=f"{d.id}/{kind}@{D}", kind=kind, source="labels", dialogue=d.id, tokens_all=T,
                      mode_all=mode, D=D, E=E, chosen=chosen, rejected=rejected, mic=mic, asst=asst,
                      chosen_audio=c_audio, rejected_audio=r_audio, opts=opts, tk=tk, echo_factor=ef, meta=meta)
        if p is not None:
            out.append(p)

    for i, ev in enumerate(d.events):
        kind = ev.kind if ev.type == "distractor" else ev.type
        if ev.type == "interruption" and ev.decision is not None and ev.expected == "stop":
            D = frame_of(ev.decision)
            if not (1 <= D < n and T[D] == shift and mode[D - 1]):
                continue
            turn = next((j for j, t in enumerate(d.turns) if t.speaker == "assistant" and t.truncated
                         and t.start <= ev.decision < t.end + BLOCK_SAMPLES), None)
            cont = np.asarray(tk.targets(_continued(d, turn)), np.int64) if turn is not None else T
            rej = int(cont[D]) if cont[D] != shift else think
            add("interruption", D, D + 1, [shift], [rej], corpus_audio(D, D + 1), corpus_audio(D, D + 1), event=i,
                context=ev.context, speaker=ev.speaker)
        elif ev.type in ("user_backchannel", "distractor") and ev.expected == "continue":
            D = frame_of(_first_word_end(d, ev))
            if not (1 <= D < n and mode[D - 1] and mode[D] and T[D] != shift):
                continue
            E = _speaking_span_end(T, mode, D, min(D + W, n), shift)
            add(kind, D, E, T[D:E], [shift] + [think] * (E - D - 1), corpus_audio(D, E), stopped_audio(D, E),
                event=i, expected=ev.expected)
        elif ev.type == "distractor" and ev.expected == "hold":
            D = frame_of(max(ev.start, ev.end - 1)) + 1
            if not (1 <= D < n) or mode[D - 1]:
                continue
            E = D
            while E < min(D + S, n) and T[E] == think:
                E += 1
            add(kind, D, E, T[D:E], [shift] + [think] * (E - D - 1), corpus_audio(D, E), corpus_audio(D, E),
                event=i, expected=ev.expected)
        elif ev.type == "user_pause":
            D = frame_of(ev.start + min(seconds_to_samples(PAUSE_TAKEOVER_S), (ev.end - ev.start) // 2))
            if not (1 <= D < n) or mode[D - 1]:
                continue
            E = D
            while E < min(D + S, n, frame_of(ev.end) + 1) and T[E] == think:
                E += 1
            add("pause", D, E, T[D:E], [shift] + [think] * (E - D - 1), corpus_audio(D, E), corpus_audio(D, E),
                event=i)
        elif ev.type == "user_turn" and ev.expected == "respond":
            last = frame_of(max(ev.start, ev.end - 1))
            D = next((k for k in range(max(1, frame_of(ev.start)), n)
                      if T[k] == shift and mode[k] and not mode[k - 1] and k + SYNTH_DELAY_BLOCKS >= last), None)
            if D is None:
                continue
            E = min(D + W, n)
            add("end_of_turn", D, E, T[D:E], [think] * (E - D), corpus_audio(D, E), stopped_audio(D, E), event=i)
    if "echo_only" in kinds and gain > 0.0:
        busy = np.zeros(n, bool)
        for track in ("user_speaking", "other_active", "noise_active", "interruption", "distractor"):
            busy |= np.asarray(labels[track]).astype(bool)
        for e in d.events:
            if e.type in ("user_backchannel", "user_pause"):
                busy[frame_of(e.start): frame_of(max(e.start, e.end - 1)) + 1] = True
        lead, clear = (max(1, seconds_to_samples(s) // BLOCK_SAMPLES) for s in (ECHO_LEAD_S, ECHO_CLEAR_S))
        for j, t in enumerate(d.turns):
            if t.speaker != "assistant" or t.kind != "answer":
                continue
            for D in range(frame_of(t.start) + lead, frame_of(t.end - 1) - W):
                window = slice(D - clear, D + W + 1)
                if (mode[D - 1] and mode[D] and T[D] != shift and not busy[window].any()
                        and labels["echo_active"][D - clear: D].any() and (mode[D: D + W] == 1).all()):
                    E = _speaking_span_end(T, mode, D, D + W, shift)
                    add("echo_only", D, E, T[D:E], [shift] + [think] * (E - D - 1), corpus_audio(D, E),
                        stopped_audio(D, E), turn=j)
                    break
    return out
