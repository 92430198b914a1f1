"""The dialogue record, the event vocabulary, the 80 ms frame arithmetic and the per-frame labels.

This module is the contract every other duplexkit package builds on (see ARCHITECTURE.md):

* time is integer samples at :data:`SAMPLE_RATE`; a block (frame) is :data:`BLOCK_SAMPLES` samples and frame ``k``
  covers samples ``[BLOCK_SAMPLES*k, BLOCK_SAMPLES*(k+1))``.  Every conversion between seconds, samples and frames
  lives here, so nothing else divides by 0.08 (float-seconds drift is the bug lhotse warns about);
* the event vocabulary (types, contexts, distractor kinds, expected reactions) is defined once, here;
* :func:`frame_labels` derives the per-frame label tracks from a :class:`Dialogue` alone, so labels can always be
  recomputed from ``manifest.jsonl`` and can never disagree with the record they were derived from.

The serialised form (``Dialogue.to_dict``) is JSON-friendly and carries :data:`SCHEMA_VERSION`; times are stored
as integer samples (``start``/``end``) and, for people and other tools, as seconds (``start_s``/``end_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, get_args

import numpy as np

from datagen.scene import Scene, SceneError

# 1.1: stop events carry ``decision`` (the causal decision time); 1.0 records still read (no decision).
SCHEMA_VERSION = "1.1"
# 1.1: interrupted answers end at the end of their decision's block (the model's closing <shift> is immediate).
LABELS_VERSION = "1.1"

# ---------------------------------------------------------------------------------------------------------------
# Time and frame arithmetic (the only place where seconds, samples and 80 ms blocks are converted)
# ---------------------------------------------------------------------------------------------------------------
SAMPLE_RATE = 16_000
BLOCK_MS = 80
BLOCK_SAMPLES = SAMPLE_RATE * BLOCK_MS // 1000  # 1280
SYNTH_DELAY_BLOCKS = 4  # the synthesizer starts 4 tokens (320 ms) behind the LLM's text (SALMONN-omni)
# A frame counts as "active" for a source when that source covers at least this many of its samples (half a block):
# a majority rule, so a word that merely grazes a block does not light it up.
ACTIVE_MIN_SAMPLES = BLOCK_SAMPLES // 2


def seconds_to_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Nearest integer sample for a time in seconds (the only float->sample rounding in the project)."""
    if not math.isfinite(seconds):
        raise ValueError(f"time must be finite, got {seconds!r}")
    return int(round(seconds * sample_rate))


def samples_to_seconds(samples: int, sample_rate: int = SAMPLE_RATE) -> float:
    return samples / sample_rate


def frame_of(sample: int) -> int:
    """Index of the frame that holds ``sample``."""
    return sample // BLOCK_SAMPLES


def frame_start(frame: int) -> int:
    """First sample of ``frame``."""
    return frame * BLOCK_SAMPLES


def frames_in(num_samples: int) -> int:
    """Number of frames needed to cover ``num_samples`` (the last one may be partial)."""
    return -(-num_samples // BLOCK_SAMPLES)


def pad_to_frames(num_samples: int) -> int:
    """``num_samples`` rounded up to a whole number of frames: dialogues are always a whole number of blocks."""
    return frames_in(num_samples) * BLOCK_SAMPLES


def end_of_frame(sample: int) -> int:
    """First sample after the frame that holds ``sample``: where audio stopped "from the next block on" ends."""
    return frame_start(frame_of(sample) + 1)


def frame_to_seconds(frame: int) -> float:
    return samples_to_seconds(frame_start(frame))


def seconds_to_frame(seconds: float) -> int:
    return frame_of(seconds_to_samples(seconds))


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------------------
Speaker = Literal["user", "assistant", "third"]
EventType = Literal[
    "user_turn",
    "assistant_turn",
    "user_pause",
    "user_backchannel",
    "assistant_backchannel",
    "interruption",
    "distractor",
]
Context = Literal["independent", "dependent"]
DistractorKind = Literal["unrelated_question", "talking_to_others", "background_speech", "noise_burst"]
Expected = Literal["respond", "hold", "continue", "stop"]
TurnKind = Literal[
    "question",  # a user request the assistant should answer
    "answer",  # the assistant's answer
    "continuation",  # the rest of a user turn after an in-turn pause
    "backchannel",  # "mhm", "right" (user or assistant)
    "interruption",  # a true barge-in ("wait, stop" or a related follow-up)
    "distractor",  # speech not addressed to the assistant
]

SPEAKERS: tuple[str, ...] = get_args(Speaker)
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
CONTEXTS: tuple[str, ...] = get_args(Context)
DISTRACTOR_KINDS: tuple[str, ...] = get_args(DistractorKind)
EXPECTED: tuple[str, ...] = get_args(Expected)
TURN_KINDS: tuple[str, ...] = get_args(TurnKind)
STEMS: tuple[str, ...] = ("user", "echo", "other", "noise")
CHANNELS: tuple[str, ...] = ("mic", "assistant")
# Which stem each speaker's voice ends up in on the mic channel (the assistant is heard as its echo).
SPEAKER_STEM: Mapping[str, str] = {"user": "user", "assistant": "echo", "third": "other"}


class SchemaError(ValueError):
    """A record that breaks the dialogue contract; the message names the field."""


def _check_choice(value: str, allowed: Iterable[str], name: str) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise SchemaError(f"{name}: unknown value {value!r} (expected one of {', '.join(allowed)})")


# ---------------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    """One word with its span in samples (relative to the utterance while synthesising, absolute in a Dialogue)."""

    text: str
    start: int
    end: int

    def shifted(self, offset: int) -> "Word":
        return Word(self.text, self.start + offset, self.end + offset)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Word":
        return cls(str(d["text"]), int(d["start"]), int(d["end"]))


@dataclass
class Turn:
    """One utterance as it was played: who, what, where in the dialogue and in which voice.

    ``text`` and ``words`` are what was actually heard; when an assistant answer is cut short by an interruption,
    ``full_text`` keeps what it would have said and ``truncated`` is true.
    """

    speaker: Speaker
    kind: TurnKind
    text: str
    start: int
    end: int
    words: list[Word] = field(default_factory=list)
    voice: str = ""
    full_text: str | None = None
    truncated: bool = False
    addressed_to_assistant: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = {
            "speaker": self.speaker,
            "kind": self.kind,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "start_s": samples_to_seconds(self.start),
            "end_s": samples_to_seconds(self.end),
            "voice": self.voice,
            "truncated": self.truncated,
            "addressed_to_assistant": self.addressed_to_assistant,
            "words": [w.to_dict() for w in self.words],
        }
        if self.full_text is not None:
            d["full_text"] = self.full_text
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Turn":
        return cls(
            speaker=d["speaker"],
            kind=d["kind"],
            text=d["text"],
            start=_sample_field(d, "start"),
            end=_sample_field(d, "end"),
            words=[Word.from_dict(w) for w in d.get("words", [])],
            voice=d.get("voice", ""),
            full_text=d.get("full_text"),
            truncated=bool(d.get("truncated", False)),
            addressed_to_assistant=bool(d.get("addressed_to_assistant", True)),
        )


@dataclass
class Event:
    """A typed moment in the dialogue with the reaction a good assistant shows (``expected``).

    ``turn`` indexes ``Dialogue.turns`` (the utterance that makes the event, if any).  ``context`` and ``speaker``
    qualify interruptions; ``kind`` qualifies distractors.  ``decision`` (events with ``expected: stop``) is the
    sample at which a causal assistant decides to stop: after the audio that tells the event apart from its
    negatives (rule and source in :mod:`datagen.distributions`); the model's closing ``<shift>`` sits in its block.
    ``meta`` holds planner detail (e.g. how many words of the line make the cue).
    """

    type: EventType
    start: int
    end: int
    expected: Expected
    turn: int | None = None
    speaker: Speaker | None = None
    context: Context | None = None
    kind: DistractorKind | None = None
    decision: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "start_s": samples_to_seconds(self.start),
            "end_s": samples_to_seconds(self.end),
            "expected": self.expected,
        }
        for name in ("turn", "speaker", "context", "kind"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        if self.decision is not None:
            d["decision"] = self.decision
            d["decision_s"] = samples_to_seconds(self.decision)
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Event":
        return cls(
            type=d["type"],
            start=_sample_field(d, "start"),
            end=_sample_field(d, "end"),
            expected=d["expected"],
            turn=d.get("turn"),
            speaker=d.get("speaker"),
            context=d.get("context"),
            kind=d.get("kind"),
            decision=_sample_field(d, "decision") if "decision" in d or "decision_s" in d else None,
            meta=dict(d.get("meta", {})),
        )


def _scene(d: Any) -> Scene | None:
    if not d:
        return None
    try:
        return Scene.from_dict(d)
    except SceneError as exc:
        raise SchemaError(str(exc)) from None


def _sample_field(d: Mapping[str, Any], name: str) -> int:
    """Read a time from a record: integer samples if present, else seconds (hand-written JSONL may use seconds)."""
    if name in d:
        return int(d[name])
    if f"{name}_s" in d:
        return seconds_to_samples(float(d[f"{name}_s"]))
    raise SchemaError(f"missing field {name!r} (or {name}_s)")


@dataclass
class Dialogue:
    """One generated dialogue: the record stored in ``manifest.jsonl`` (audio lives in the parquet shards).

    ``scene`` (:class:`datagen.scene.Scene`) is the exact description of what was rendered (room, positions,
    gains, SNR/SER, echo delay, nonlinearity, voices); None only for hand-made records without audio.
    """

    id: str
    scenario: str
    seed: int
    num_samples: int
    turns: list[Turn] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    scene: Scene | None = None
    sample_rate: int = SAMPLE_RATE
    schema_version: str = SCHEMA_VERSION

    @property
    def duration_s(self) -> float:
        return samples_to_seconds(self.num_samples, self.sample_rate)

    @property
    def num_frames(self) -> int:
        return frames_in(self.num_samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "scenario": self.scenario,
            "seed": self.seed,
            "sample_rate": self.sample_rate,
            "num_samples": self.num_samples,
            "duration_s": self.duration_s,
            "turns": [t.to_dict() for t in self.turns],
            "events": [e.to_dict() for e in self.events],
            "scene": self.scene.to_dict() if self.scene is not None else {},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Dialogue":
        version = str(d.get("schema_version", SCHEMA_VERSION))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise SchemaError(f"schema_version {version} is not readable by this duplexkit (reads {SCHEMA_VERSION})")
        sr = int(d.get("sample_rate", SAMPLE_RATE))
        num = int(d["num_samples"]) if "num_samples" in d else seconds_to_samples(float(d["duration_s"]), sr)
        dlg = cls(
            id=str(d["id"]),
            scenario=str(d["scenario"]),
            seed=int(d.get("seed", 0)),
            num_samples=num,
            turns=[Turn.from_dict(t) for t in d.get("turns", [])],
            events=[Event.from_dict(e) for e in d.get("events", [])],
            scene=_scene(d.get("scene")),
            sample_rate=sr,
            schema_version=version,
        )
        dlg.validate()
        return dlg

    def validate(self) -> None:
        """Raise :class:`SchemaError` naming the first field that breaks the contract."""
        if self.sample_rate != SAMPLE_RATE:
            raise SchemaError(f"sample_rate: {self.sample_rate} (duplexkit corpora are {SAMPLE_RATE} Hz)")
        if self.num_samples <= 0:
            raise SchemaError(f"num_samples: must be positive, got {self.num_samples}")
        for i, t in enumerate(self.turns):
            where = f"turns[{i}]"
            _check_choice(t.speaker, SPEAKERS, f"{where}.speaker")
            _check_choice(t.kind, TURN_KINDS, f"{where}.kind")
            if not 0 <= t.start < t.end <= self.num_samples:
                raise SchemaError(f"{where}: span [{t.start}, {t.end}) is not inside the audio (0..{self.num_samples})")
            for j, w in enumerate(t.words):
                if not t.start <= w.start <= w.end <= t.end:
                    raise SchemaError(f"{where}.words[{j}] {w.text!r}: span [{w.start}, {w.end}) is outside its turn")
        for i, e in enumerate(self.events):
            where = f"events[{i}]"
            _check_choice(e.type, EVENT_TYPES, f"{where}.type")
            _check_choice(e.expected, EXPECTED, f"{where}.expected")
            if not 0 <= e.start <= e.end <= self.num_samples:
                raise SchemaError(f"{where} ({e.type}): span [{e.start}, {e.end}) is not inside the audio")
            if e.type == "interruption":
                _check_choice(e.context or "", CONTEXTS, f"{where}.context")
                _check_choice(e.speaker or "", ("user", "third"), f"{where}.speaker")
            if e.type == "distractor":
                _check_choice(e.kind or "", DISTRACTOR_KINDS, f"{where}.kind")
            if e.decision is not None and not (e.expected == "stop" and e.start <= e.decision < self.num_samples):
                raise SchemaError(f"{where}.decision: {e.decision} needs expected 'stop' and a time inside "
                                  f"[{e.start}, {self.num_samples})")
            if e.turn is not None and not 0 <= e.turn < len(self.turns):
                raise SchemaError(f"{where}.turn: {e.turn} does not index a turn")

    def events_of(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]


# ---------------------------------------------------------------------------------------------------------------
# Per-frame labels
# ---------------------------------------------------------------------------------------------------------------
STATE_LISTEN = 0
STATE_SPEAK = 1
STATE_NAMES: tuple[str, ...] = ("listening", "speaking")
# Label tracks, in a fixed order; all are int8 arrays of length ``Dialogue.num_frames``.
LABEL_TRACKS: tuple[str, ...] = (
    "user_speaking",  # the user's words cover the frame (pauses between words are not speech)
    "assistant_speaking",  # the assistant's words (as played) cover the frame
    "echo_active",  # the assistant's echo reaches the mic in this frame (0 everywhere when echo_factor == 0)
    "other_active",  # a third speaker or background speech covers the frame
    "noise_active",  # a noise burst covers the frame (the stationary noise floor is in scene, not here)
    "state",  # STATE_LISTEN / STATE_SPEAK: what a good assistant is doing (its turn spans, pauses included)
    "shift",  # 1 where the state changes (listen->speak and speak->listen): the <shift> positions
    "backchannel_opportunity",  # 1 inside windows where the assistant may backchannel
    "interruption",  # 1 inside true interruptions (expected: stop)
    "distractor",  # 1 inside distractors (expected: continue/hold)
)


def span_mask(num_frames: int, spans: Iterable[tuple[int, int]], min_samples: int = ACTIVE_MIN_SAMPLES) -> np.ndarray:
    """Frames covered by the union of sample spans for at least ``min_samples`` samples (0/1 int8)."""
    coverage = np.zeros(num_frames, dtype=np.int64)
    merged: list[list[int]] = []
    for s, e in sorted((int(s), int(e)) for s, e in spans if e > s):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    for s, e in merged:
        f0, f1 = frame_of(s), frame_of(e - 1)
        for f in range(max(f0, 0), min(f1, num_frames - 1) + 1):
            lo, hi = max(s, frame_start(f)), min(e, frame_start(f + 1))
            coverage[f] += hi - lo
    return (coverage >= min(min_samples, BLOCK_SAMPLES)).astype(np.int8)


def _word_spans(turns: Iterable[Turn]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for t in turns:
        spans.extend((w.start, w.end) for w in t.words) if t.words else spans.append((t.start, t.end))
    return spans


def frame_labels(dialogue: Dialogue) -> dict[str, np.ndarray]:
    """Derive every label track of :data:`LABEL_TRACKS` from the dialogue record.

    The assistant channel of a generated corpus *is* a good assistant's behaviour (it yields to true interruptions
    at a causal decision and talks through distractors), so ``state`` follows the assistant turns as
    played (an interrupted answer ends at :func:`end_of_frame` of its event's ``decision``).  ``shift`` marks the
    frame where the state changes on the audio timeline; the model's tokens (model package) start speech
    :data:`SYNTH_DELAY_BLOCKS` blocks early (its synthesizer lags its text) and stop it immediately (the closing
    ``<shift>`` sits in the last speaking frame).
    """
    n = dialogue.num_frames
    by = lambda sp: [t for t in dialogue.turns if t.speaker == sp]  # noqa: E731
    assistant_turns = [t for t in by("assistant") if t.kind != "backchannel"]
    labels: dict[str, np.ndarray] = {
        "user_speaking": span_mask(n, _word_spans(by("user"))),
        "assistant_speaking": span_mask(n, _word_spans(by("assistant"))),
    }
    echo = dialogue.scene.echo if dialogue.scene is not None else None
    echo_delay = int(echo.delay_samples) if echo is not None else 0
    echo_on = echo is not None and float(echo.gain or 0.0) > 0.0
    labels["echo_active"] = (
        span_mask(n, [(s + echo_delay, e + echo_delay) for s, e in _word_spans(by("assistant"))])
        if echo_on
        else np.zeros(n, np.int8)
    )
    other_spans = _word_spans(by("third"))
    other_spans += [
        (e.start, e.end) for e in dialogue.events if e.type == "distractor" and e.kind == "background_speech"
    ]
    labels["other_active"] = span_mask(n, other_spans)
    labels["noise_active"] = span_mask(
        n, [(e.start, e.end) for e in dialogue.events if e.type == "distractor" and e.kind == "noise_burst"]
    )
    state = span_mask(n, [(t.start, t.end) for t in assistant_turns])
    labels["state"] = state
    shift = np.zeros(n, np.int8)
    if n:
        shift[1:] = (state[1:] != state[:-1]).astype(np.int8)
        shift[0] = state[0]
    labels["shift"] = shift
    labels["backchannel_opportunity"] = span_mask(
        n, [(e.start, e.end) for e in dialogue.events if e.type == "assistant_backchannel"], min_samples=1
    )
    labels["interruption"] = span_mask(
        n, [(e.start, e.end) for e in dialogue.events if e.type == "interruption"], min_samples=1
    )
    labels["distractor"] = span_mask(
        n, [(e.start, e.end) for e in dialogue.events if e.type == "distractor"], min_samples=1
    )
    assert tuple(labels) == LABEL_TRACKS
    return labels

