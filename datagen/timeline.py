"""Scenario planners: place synthesised utterances on one sample-exact timeline and record what happens.

A planner turns exchanges (a question and the assistant's answer) into turns, events and audio clips.  The assistant
side is always a *good* assistant: it answers after a human-like gap, talks through backchannels and distractors,
yields to true interruptions at a causal decision (after the words that tell them apart) and holds through in-turn
pauses.  Every timing is drawn from :mod:`datagen.distributions` (sources stated there), so ``duplexkit inspect``
can compare a corpus with the distributions it was drawn from.

The builder works in integer samples only; the clips it collects are rendered into dry tracks by
:mod:`datagen.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from datagen.distributions import ClippedNormal
from datagen.scene import Voices
from datagen.schema import BLOCK_SAMPLES, Event, Turn, Word, end_of_frame, samples_to_seconds, seconds_to_samples
from datagen.tts.base import Utterance

# Dry tracks a clip can go to; render maps them onto stems (user -> user, third/background -> other, ...).
TRACKS: tuple[str, ...] = ("user", "assistant", "third", "background", "bursts")
FADE_SAMPLES = seconds_to_samples(0.01)  # fade applied where the assistant is cut off, so the cut does not click
# A backchannel opportunity lasts the clause pause plus this much into the next clause (backchannels overlap onsets).
BACKCHANNEL_WINDOW_TAIL = seconds_to_samples(0.3)
MIN_TAIL_AFTER_ONSET = seconds_to_samples(0.6)  # a barge-in must leave the answer at least this much to interrupt
MIN_TAIL_AFTER_STOP = seconds_to_samples(0.3)  # a stopped answer leaves at least this much unsaid (a stop, not an end)
MIN_LEAD_BEFORE_ONSET = seconds_to_samples(0.3)  # a barge-in comes at least this far into the answer
ONSET_TRIES = 3  # onsets tried (each earlier) to fit a barge-in's decision inside the answer
# A late stop (config late_stop_prob) overruns the decision by 1..this many blocks: up to 640 ms, inside the
# benchmark's 1-s window for a caught barge-in, so every block of the overrun is still a stop worth making.
LATE_STOP_MAX_BLOCKS = 8


class Speech(Protocol):
    def __call__(self, text: str, voice: str) -> Utterance: ...


@dataclass
class Clip:
    track: str
    start: int
    audio: np.ndarray


@dataclass
class Exchange:
    """One question and the answer a good assistant gives; ``item`` is the QA bank entry when there is one."""

    question: str
    response: str
    item: object | None = None  # datagen.content.QAItem
    # For long user turns: the clauses of the question (backchannel opportunities lie between them).
    clauses: tuple[str, ...] = ()


@dataclass
class DialogueBuilder:
    """Collects turns, events and clips; all times are absolute samples from the start of the dialogue."""

    speak_user: Speech
    speak_other: Speech
    voices: Voices
    rng: np.random.Generator
    timing: dict[str, ClippedNormal]
    speak_assistant: Speech | None = None  # None: the assistant speaks through speak_other
    turns: list[Turn] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)
    _turn_clip: dict[int, int] = field(default_factory=dict)

    # -- primitives -------------------------------------------------------------------------------------------
    def draw(self, name: str) -> int:
        """A duration in samples from the named reference distribution."""
        return seconds_to_samples(self.timing[name].sample(self.rng))

    def synth(self, speaker: str, text: str) -> Utterance:
        if speaker == "user":
            return self.speak_user(text, self.voices.user)
        if speaker == "assistant":
            return (self.speak_assistant or self.speak_other)(text, self.voices.assistant)
        return self.speak_other(text, self.voices.third)

    def synth_parts(self, speaker: str, parts: Sequence[str]) -> list[Utterance]:
        """One utterance of ``parts`` said in one breath, cut between them: a speaker who pauses inside a question
        (or between the clauses of a long turn) keeps the sentence's intonation up to the pause, where ``parts``
        synthesised one by one would each end on an utterance-final fall and lengthening, the very cues of a
        finished turn (docs/tts.md "Pauses inside a turn").  Cut at the middle of the silence between the
        parts' words (at the next word's start when they touch), with a short fade either side."""
        whole = self.synth(speaker, " ".join(parts))
        sizes = [len(p.split()) for p in parts]
        if len(whole.words) != sum(sizes) or 0 in sizes:  # a backend that times words otherwise: one by one
            return [self.synth(speaker, p) for p in parts]
        cuts, k = [0], 0
        for n in sizes[:-1]:
            k += n
            before, after = whole.words[k - 1], whole.words[k]
            cuts.append(int(max(cuts[-1] + 1, (min(before.end, after.start) + after.start) // 2)))
        cuts.append(len(whole.audio))
        out, k = [], 0
        for text, n, a, b in zip(parts, sizes, cuts[:-1], cuts[1:]):
            audio = whole.audio[a:b].copy()
            fade = min(FADE_SAMPLES, len(audio) // 2)
            if fade and a > 0:
                audio[:fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
            if fade and b < len(whole.audio):
                audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            audio.setflags(write=False)
            words = [Word(w.text, int(np.clip(w.start - a, 0, b - a - 1)), int(np.clip(w.end - a, 1, b - a)))
                     for w in whole.words[k : k + n]]
            out.append(Utterance(text, audio, words, whole.voice))
            k += n
        return out

    def place(
        self,
        speaker: str,
        kind: str,
        utt: Utterance,
        start: int,
        track: str | None = None,
        addressed: bool = True,
    ) -> int:
        """Put an utterance on the timeline at ``start``; returns the turn index."""
        start = max(0, int(start))
        track = track or speaker
        turn = Turn(
            speaker=speaker,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            text=utt.text,
            start=start,
            end=start + len(utt.audio),
            words=[w.shifted(start) for w in utt.words],
            voice=utt.voice,
            addressed_to_assistant=addressed,
        )
        self.turns.append(turn)
        self.clips.append(Clip(track, start, utt.audio))
        self._turn_clip[len(self.turns) - 1] = len(self.clips) - 1
        return len(self.turns) - 1

    def say(self, speaker: str, kind: str, text: str, start: int, track: str | None = None, addressed: bool = True):
        """Synthesise and place; returns (turn index, utterance)."""
        utt = self.synth(speaker, text)
        return self.place(speaker, kind, utt, start, track, addressed), utt

    def cut(self, turn_index: int, at: int) -> None:
        """Stop a turn at sample ``at`` (the assistant yielding): audio faded out, later words dropped."""
        turn = self.turns[turn_index]
        at = int(np.clip(at, turn.start + 1, turn.end))
        if at >= turn.end:
            return
        clip = self.clips[self._turn_clip[turn_index]]
        audio = clip.audio[: at - clip.start].copy()
        fade = min(FADE_SAMPLES, len(audio))
        if fade:
            audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        clip.audio = audio
        kept = [Word(w.text, w.start, min(w.end, at)) for w in turn.words if w.start < at]
        turn.full_text = turn.text
        turn.text = " ".join(w.text for w in kept)
        turn.words = kept
        turn.end = at
        turn.truncated = True

    def event(self, type_: str, start: int, end: int, expected: str, **kw) -> Event:
        ev = Event(type=type_, start=int(start), end=int(end), expected=expected, **kw)  # type: ignore[arg-type]
        self.events.append(ev)
        return ev

    def checkpoint(self) -> tuple[int, int, int, tuple[int, ...]]:
        """A mark to :meth:`rollback` to: planners only append, and cut only turns placed after the mark."""
        return len(self.turns), len(self.events), len(self.clips), tuple(t.end for t in self.turns)

    def rollback(self, mark: tuple[int, int, int, tuple[int, ...]]) -> None:
        """Drop everything placed after ``mark`` (an exchange that would overshoot the dialogue's length)."""
        n_turns, n_events, n_clips, ends = mark
        if tuple(t.end for t in self.turns[:n_turns]) != ends:
            raise AssertionError("rollback: a turn placed before the mark was cut after it")
        del self.turns[n_turns:], self.events[n_events:], self.clips[n_clips:]
        self._turn_clip = {t: c for t, c in self._turn_clip.items() if t < n_turns}

    def end(self) -> int:
        ends = [c.start + len(c.audio) for c in self.clips]
        ends += [e.end for e in self.events]
        return max(ends, default=0)

    def spoken_before(self, turn_index: int, at: int) -> str:
        """The words of a turn heard before sample ``at`` (what a context-dependent barge-in can refer to)."""
        return " ".join(w.text for w in self.turns[turn_index].words if w.start < at)


# ------------------------------------------------------------------------------------------------------------------
# Steps shared by the planners
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class PlanContext:
    """What a planner needs besides the builder: content helpers and scenario knobs."""

    lexicon: object  # datagen.content.pools.Lexicon: the line pools of this run (built-in, a team's, one split)
    content: object  # datagen.content package (pause_split, related_followup, unrelated_question)
    bank: Sequence[object]
    burst_maker: Callable[[np.random.Generator], np.ndarray]
    third_speaker_interrupt_prob: float
    assistant_backchannel_prob: float
    late_stop_prob: float = 0.0


def ask(b: DialogueBuilder, ex: Exchange, t: int, ctx: PlanContext, pause: bool = False) -> int:
    """The user asks ``ex.question`` at ``t`` (split by an in-turn pause when ``pause``); returns its end."""
    if ex.clauses:
        return ask_long(b, ex, t, ctx)
    if not pause:
        turn, _ = b.say("user", "question", ex.question, t)
        b.event("user_turn", t, b.turns[turn].end, "respond", turn=turn, speaker="user")
        return b.turns[turn].end
    first, second = ctx.content.pause_split(ex.question, b.rng)
    head, tail = b.synth_parts("user", (first, second))
    turn = b.place("user", "question", head, t)
    pause_start = b.turns[turn].end
    pause_end = pause_start + b.draw("pause")
    cont = b.place("user", "continuation", tail, pause_end)
    end = b.turns[cont].end
    b.event("user_pause", pause_start, pause_end, "hold", turn=turn, speaker="user")
    b.event("user_turn", t, end, "respond", turn=turn, speaker="user", meta={"paused": True})
    return end


def ask_long(b: DialogueBuilder, ex: Exchange, t: int, ctx: PlanContext) -> int:
    """A long user turn in clauses; between clauses the assistant may backchannel (and sometimes does)."""
    first_turn = None
    cursor = t
    for i, utt in enumerate(b.synth_parts("user", ex.clauses)):
        turn = b.place("user", "question" if i == 0 else "continuation", utt, cursor)
        first_turn = turn if first_turn is None else first_turn
        cursor = b.turns[turn].end
        if i == len(ex.clauses) - 1:
            break
        pause = b.draw("clause_pause")
        latency = b.draw("backchannel_latency")
        window_end = cursor + pause + BACKCHANNEL_WINDOW_TAIL
        ev = b.event("assistant_backchannel", cursor, window_end, "respond", speaker="assistant")
        if b.rng.random() < ctx.assistant_backchannel_prob:
            line = ctx.lexicon.ASSISTANT_BACKCHANNELS[int(b.rng.integers(len(ctx.lexicon.ASSISTANT_BACKCHANNELS)))]
            bc, _ = b.say("assistant", "backchannel", line, cursor + latency)
            ev.turn = bc
            ev.meta["taken"] = True
        else:
            ev.meta["taken"] = False
        cursor += pause
    b.event("user_turn", t, cursor, "respond", turn=first_turn, speaker="user", meta={"clauses": len(ex.clauses)})
    return cursor


def answer(b: DialogueBuilder, text: str, t: int) -> int:
    turn, _ = b.say("assistant", "answer", text, t)
    b.event("assistant_turn", t, b.turns[turn].end, "continue", turn=turn, speaker="assistant")
    return turn


def _onset(b: DialogueBuilder, turn: int) -> int | None:
    """A barge-in/distractor onset inside the assistant turn, leaving room to interrupt; None if it is too short."""
    start, end = b.turns[turn].start, b.turns[turn].end
    onset = start + b.draw("barge_in_onset")
    latest = end - MIN_TAIL_AFTER_ONSET
    if latest <= start + MIN_LEAD_BEFORE_ONSET:
        return None
    return min(onset, latest)


def user_backchannels(b: DialogueBuilder, turn: int, ctx: PlanContext) -> None:
    """User backchannels over an answer, about one every few seconds; the assistant talks on."""
    t = _onset(b, turn)
    end = b.turns[turn].end - seconds_to_samples(0.4)
    lines = ctx.lexicon.USER_BACKCHANNELS
    while t is not None and t < end:
        bc, _ = b.say("user", "backchannel", lines[int(b.rng.integers(len(lines)))], t)
        b.event("user_backchannel", t, b.turns[bc].end, "continue", turn=bc, speaker="user")
        t = b.turns[bc].end + b.draw("backchannel_interval")


def independent_cue_words(line: str, backchannels: Sequence[str]) -> int:
    """Words of a context-independent line a listener must hear to tell it from a backchannel: its first word, or
    more while the line still sounds like the start of one ("okay, that's enough": 2; rule in distributions)."""
    key = lambda text: [w.strip(",.!?;:").lower() for w in text.split()]  # noqa: E731
    words, negatives = key(line), [key(bc) for bc in backchannels]
    n = 1
    while n < len(words) and any(neg[:n] == words[:n] for neg in negatives):
        n += 1
    return n


def interrupt(b: DialogueBuilder, turn: int, ex: Exchange, ctx: PlanContext, context: str) -> int:
    """A true barge-in on an answer: the assistant stops after a causal decision; returns when the floor is free.

    Context-independent lines ("wait, stop") come from the user or a third speaker; context-dependent ones are
    related follow-ups built from the words the assistant has said up to the onset, and get an answer.  The
    decision comes ``decision_delay`` after the line's cue (the words that tell it from its negatives; rule in
    :mod:`datagen.distributions`); the answer stops at the end of the decision's block.  When the decision would
    fall too near the answer's natural end, the onset moves earlier (a few tries), else there is no barge-in.
    """
    onset = _onset(b, turn)
    if onset is None:
        return b.turns[turn].end
    if context == "independent":
        speaker = "third" if b.rng.random() < ctx.third_speaker_interrupt_prob else "user"
        lines = ctx.lexicon.INTERRUPTIONS_INDEPENDENT
        text = lines[int(b.rng.integers(len(lines)))]
        cue = independent_cue_words(text, ctx.lexicon.USER_BACKCHANNELS)
    else:
        speaker = "user"
    delay = b.draw("decision_delay")
    latest = b.turns[turn].end - MIN_TAIL_AFTER_STOP - BLOCK_SAMPLES  # the decision's block must end before this
    for _ in range(ONSET_TRIES):
        if context == "dependent":
            follow = ctx.content.related_followup(ex.item, b.spoken_before(turn, onset), b.rng)
            text, cue = follow.text, follow.cue_words
        utt = b.synth(speaker, text)
        decision = onset + utt.words[min(cue, len(utt.words)) - 1].end + delay
        if decision <= latest:
            break
        onset -= decision - latest
        if onset < b.turns[turn].start + MIN_LEAD_BEFORE_ONSET:
            return b.turns[turn].end
    else:
        return b.turns[turn].end
    track = "third" if speaker == "third" else "user"
    line = b.place(speaker, "interruption", utt, onset, track=track)
    late = _late_stop_blocks(b, turn, decision, ctx.late_stop_prob)
    b.cut(turn, end_of_frame(decision) + late * BLOCK_SAMPLES)
    line_end = b.turns[line].end
    b.event(
        "interruption",
        onset,
        line_end,
        "stop",
        turn=line,
        speaker=speaker,
        context=context,
        decision=decision,
        meta={"cue_words": cue, "stop_latency_s": samples_to_seconds(b.turns[turn].end - onset),
              **({"late_stop_blocks": late} if late else {})},
    )
    _close_assistant_event(b, turn)
    if context == "dependent":
        reply_at = max(line_end, b.turns[turn].end) + b.draw("response_gap")  # a decision may come after the line
        reply = answer(b, followup_response(ex), reply_at)
        return b.turns[reply].end
    return max(line_end, b.turns[turn].end)


def _late_stop_blocks(b: DialogueBuilder, turn: int, decision: int, prob: float) -> int:
    """Blocks the assistant talks on past ``decision`` (0 unless drawn with ``prob``; no draw at 0, so corpora
    without late stops keep their bytes), within the answer's :data:`MIN_TAIL_AFTER_STOP`."""
    if prob <= 0 or b.rng.random() >= prob:
        return 0
    room = (b.turns[turn].end - MIN_TAIL_AFTER_STOP - end_of_frame(decision)) // BLOCK_SAMPLES
    return int(min(b.rng.integers(1, LATE_STOP_MAX_BLOCKS + 1), max(room, 0)))


def _close_assistant_event(b: DialogueBuilder, turn: int) -> None:
    """Keep the assistant_turn event in step with a truncated turn."""
    for ev in b.events:
        if ev.type == "assistant_turn" and ev.turn == turn:
            ev.end = b.turns[turn].end
            ev.meta["truncated"] = True


def followup_response(ex: Exchange) -> str:
    """The answer to a related follow-up: honest about what the bank knows, and coherent with the first answer."""
    item = ex.item
    answer_text = getattr(item, "answer", "") if item is not None else ""
    first = ex.response.split(". ")[0].rstrip(".")
    if answer_text:
        return (
            f"Good question. I don't have that detail at hand, so I won't guess. "
            f"What I can say for sure is that the answer to your first question is {answer_text}. {first}."
        )
    return f"Good question. I don't have that detail at hand, so I won't guess. What I said was: {first}."


DISTRACTOR_KINDS_DURING_SPEECH = ("unrelated_question", "talking_to_others", "background_speech", "noise_burst")


def distract(b: DialogueBuilder, turn: int | None, ex: Exchange, ctx: PlanContext, kind: str, at: int | None = None):
    """A distractor over an answer (expected: continue) or in a silence (expected: hold)."""
    if turn is not None:
        at = _onset(b, turn)
        if at is None:
            return
    assert at is not None
    expected = "continue" if turn is not None else "hold"
    lex = ctx.lexicon
    pick = lambda seq: seq[int(b.rng.integers(len(seq)))]  # noqa: E731
    if kind == "noise_burst":
        burst = ctx.burst_maker(b.rng)
        b.clips.append(Clip("bursts", at, burst))
        b.event("distractor", at, at + len(burst), expected, kind=kind, meta={"burst_s": samples_to_seconds(len(burst))})
        return
    if kind == "unrelated_question":
        text = ctx.content.unrelated_question(ex.item, b.rng, ctx.bank, lex.FALLBACK_UNRELATED)
        idx, _ = b.say("third", "distractor", text, at, track="third", addressed=False)
    elif kind == "talking_to_others":
        idx, _ = b.say("user", "distractor", pick(lex.TALKING_TO_OTHERS), at, track="user", addressed=False)
    elif kind == "background_speech":
        idx, _ = b.say("third", "distractor", pick(lex.BACKGROUND_SPEECH), at, track="background", addressed=False)
    else:
        raise ValueError(f"distractor kind {kind!r} is not one of {', '.join(DISTRACTOR_KINDS_DURING_SPEECH)}")
    speaker = b.turns[idx].speaker
    b.event("distractor", at, b.turns[idx].end, expected, turn=idx, speaker=speaker, kind=kind)
