"""Benchmark items cut from a duplexkit corpus: what the model hears, what it is scored on, what the oracle plays.

An item is a window of one dialogue built around one probe (Full-Duplex-Bench style, one behaviour per sample), but
played *closed loop*: the corpus's recorded echo is dropped and the model hears its own output through the scene's
echo path instead.  The environment is rebuilt from the corpus stems as explicit clips, so the harness can move a
clip in time:

* ``answer`` items: a complete user question, then only the room's noise floor.  Scored for turn-taking (take-over,
  latency, early take-overs), echo robustness (self-interruptions while only its own echo is present) and spoken QA
  (the question's answer aliases, when the question is from the QA bank).
* ``pause`` items: a question with an in-turn pause; scored on take-overs inside the pause.
* ``long_turn`` items: a long user turn told in clauses; scored on the model's own backchannels (how often, how
  soon after each clause-end cue) and on not taking the turn early.
* ``reactive`` items: a question, then a probe *scheduled relative to the model's behaviour*: it fires ``offset``
  after the model starts answering (the offset the corpus used after its own answer started).  True interruptions
  (independent/dependent, by the user or a third speaker) are barge-in positives, each with the corpus's decision
  time (the caught window counts from it, so it covers what the corpus assistant did); user backchannels, distractors
  and ``silence`` (nothing at all) are negatives.  If the model never starts answering, the probe never fires, and
  that is recorded.

Specs are small JSON-able records (an item list is cheap to build and to hash); :func:`materialize` turns a spec into
arrays from the corpus when an item is run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from datagen.acoustics.echo import unit_echo_gain
from datagen.scene import Nonlinearity
from datagen.schema import BLOCK_SAMPLES, Dialogue, Event, Turn, pad_to_frames, seconds_to_samples

ITEMS_VERSION = "1.2"  # 1.1: interruption probes carry the corpus decision (decision_after); 1.2: a drawn lead
FAMILIES = ("answer", "pause", "long_turn", "reactive")
# Room noise before the question: drawn per item in this range from its id (:func:`lead_samples`).  Why not one
# fixed lead: with 0.5 s before every question, a model that speaks at fixed times into whatever it hears took every
# turn (small, s33: take-over 1.00 on test); with 0.5-3.0 s it still took 0.75 (its talk from 5.4 s on followed
# every question's end), so the draw spans 5.5 s, more than a question lasts (docs/benchmark.md)
LEAD_S = (0.5, 6.0)
TAIL_S = 0.3  # reverberant tail kept after a clip's last word
ANSWER_HORIZON_S = 8.0  # after the question: room for a latency, the answer's first sentence and echo
PAUSE_HORIZON_S = 2.0  # after the continuation
LONG_TURN_HORIZON_S = 3.0
REACTIVE_MAX_WAIT_S = 4.0  # after the question: how long the harness waits for the model to start answering
REACTIVE_AFTER_S = 3.5  # after the probe: room to stop (window) and to stay stopped
SILENCE_PROBE_OFFSET_S = 1.6  # a `silence` negative: nothing happens this long after the model starts
SILENCE_PROBE_S = 1.0
NEGATIVE_MARGIN_S = 2.5  # a negative probe ends at least this long before the corpus answer's natural end
ONSET_EARLY_S = 0.24  # model speech this close before the question's end still counts as its onset (3 blocks)

BARGE_IN_POSITIVE = "interruption"
BARGE_IN_NEGATIVES = ("user_backchannel", "unrelated_question", "talking_to_others", "background_speech",
                      "noise_burst", "silence")


@dataclass
class StemClip:
    """A stretch of one corpus stem (``user``/``other``/``noise``), placed at ``at`` samples into the item."""

    stem: str
    src_start: int  # in the dialogue
    src_end: int
    at: int

    def length(self) -> int:
        return self.src_end - self.src_start


@dataclass
class Probe:
    """The behaviour an item scores.  Times are item samples; a reactive probe's ``start`` is its offset after the
    model's onset (``end - start`` its length)."""

    name: str  # user_turn | user_pause | assistant_backchannel | interruption | user_backchannel | <distractor kind>
    start: int
    end: int
    expected: str
    reactive: bool = False
    context: str | None = None
    speaker: str | None = None
    clip: StemClip | None = None  # the probe's sound (moved to the fire time for reactive probes)
    decision_after: int | None = None  # samples from the probe's start to the corpus's causal stop decision


@dataclass
class ItemSpec:
    id: str
    dialogue_id: str
    family: str
    start: int  # window start in the dialogue (negative: it opens with floor from before the dialogue)
    num_samples: int
    clips: list[StemClip]
    probes: list[Probe]
    echo_factor: float
    question_end: int  # item sample where the question (or long turn) ends: the anchor of onsets
    question: str = ""
    answers: list[str] = field(default_factory=list)  # QA aliases (empty: not a QA item)
    reference: list[tuple[int, int]] = field(default_factory=list)  # corpus assistant spans (dialogue samples)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ItemSpec":
        d = dict(d)
        d["clips"] = [StemClip(**c) for c in d["clips"]]
        d["probes"] = [Probe(**{**p, "clip": StemClip(**p["clip"]) if p.get("clip") else None}) for p in d["probes"]]
        d["reference"] = [tuple(r) for r in d["reference"]]
        return cls(**d)

    @property
    def reactive_probe(self) -> Probe | None:
        return next((p for p in self.probes if p.reactive), None)


# ------------------------------------------------------------------------------------------------------------------
# Building specs from dialogue records
# ------------------------------------------------------------------------------------------------------------------
def _s(seconds: float) -> int:
    return seconds_to_samples(seconds)


def lead_samples(key: str) -> int:
    """The item's lead before its question, uniform in :data:`LEAD_S` from a hash of ``key`` (the same on every
    machine and run, whatever else the corpus holds).  An item may so start before its dialogue does: the floor
    before sample 0 is the dialogue's own (:func:`_floor` tiles it)."""
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") / 2.0 ** 64
    return _s(LEAD_S[0] + (LEAD_S[1] - LEAD_S[0]) * u)


def _clip_of(turn: Turn, stem: str, item_start: int, limit: int | None = None) -> StemClip:
    end = turn.end + _s(TAIL_S)
    if limit is not None:
        end = max(turn.end, min(end, limit))
    return StemClip(stem, turn.start, end, turn.start - item_start)


def _qa_lookup() -> dict[str, list[str]]:
    from datagen.content import normalize_answer, question_bank

    table: dict[str, list[str]] = {}
    for q in question_bank():
        table[normalize_answer(q.question)] = [q.answer, *q.aliases]
    return table


def _next_start(d: Dialogue, speaker: str, after: int) -> int | None:
    starts = [t.start for t in d.turns if t.speaker == speaker and t.start > after]
    return min(starts) if starts else None


def _answer_after(d: Dialogue, at: int) -> tuple[int, Turn] | None:
    for i, t in enumerate(d.turns):
        if t.speaker == "assistant" and t.kind == "answer" and t.start >= at:
            return i, t
    return None


def _question_turns(d: Dialogue, ev: Event) -> list[Turn]:
    """The user turns that make up a user_turn event (a question, or a question with its continuation(s))."""
    return [t for t in d.turns if t.speaker == "user" and t.kind in ("question", "continuation")
            and ev.start <= t.start and t.end <= ev.end]


def answer_and_pause_items(d: Dialogue, qa: dict[str, list[str]]) -> list[ItemSpec]:
    from datagen.content import normalize_answer

    items: list[ItemSpec] = []
    pauses = d.events_of("user_pause")
    for n, ev in enumerate(d.events_of("user_turn")):
        turns = _question_turns(d, ev)
        if not turns or ev.meta.get("clauses"):
            continue  # long turns are long_turn items
        start = ev.start - lead_samples(f"{d.id}/question{n}")
        clips = [_clip_of(t, "user", start, ev.end + _s(TAIL_S)) for t in turns]
        answer = _answer_after(d, ev.end)
        if answer is None or answer[1].truncated:
            continue  # the oracle needs the whole answer the corpus played (interrupted ones make reactive items)
        reference = [(answer[1].start, answer[1].end)]
        text = " ".join(t.text for t in turns)
        in_turn = [p for p in pauses if ev.start <= p.start and p.end <= ev.end]
        if in_turn:
            probes = [Probe("user_pause", p.start - start, p.end - start, "hold") for p in in_turn]
            probes.append(Probe("user_turn", ev.start - start, ev.end - start, "respond"))
            num = ev.end - start + _s(PAUSE_HORIZON_S)
            items.append(ItemSpec(f"{d.id}/pause{n}", d.id, "pause", start, pad_to_frames(num), clips, probes,
                                  1.0, ev.end - start, text, [], reference))
        else:
            num = ev.end - start + _s(ANSWER_HORIZON_S)
            items.append(ItemSpec(f"{d.id}/answer{n}", d.id, "answer", start, pad_to_frames(num), clips,
                                  [Probe("user_turn", ev.start - start, ev.end - start, "respond")], 1.0,
                                  ev.end - start, text, qa.get(normalize_answer(text), []), reference))
    return items


def long_turn_items(d: Dialogue) -> list[ItemSpec]:
    items = []
    for n, ev in enumerate(d.events_of("user_turn")):
        if not ev.meta.get("clauses"):
            continue
        turns = _question_turns(d, ev)
        start = ev.start - lead_samples(f"{d.id}/long{n}")
        clips = [_clip_of(t, "user", start) for t in turns]
        probes = [Probe("assistant_backchannel", e.start - start, e.end - start, "respond")
                  for e in d.events_of("assistant_backchannel") if ev.start <= e.start < ev.end]
        probes.append(Probe("user_turn", ev.start - start, ev.end - start, "respond"))
        reference = [(t.start, t.end) for t in d.turns
                     if t.speaker == "assistant" and t.kind == "backchannel" and ev.start <= t.start < ev.end]
        num = ev.end - start + _s(LONG_TURN_HORIZON_S)
        items.append(ItemSpec(f"{d.id}/long{n}", d.id, "long_turn", start, pad_to_frames(num), clips, probes,
                              1.0, ev.end - start, " ".join(t.text for t in turns), [], reference))
    return items


def _probe_name(ev: Event) -> str:
    return ev.kind if ev.type == "distractor" else ev.type


def reactive_items(d: Dialogue) -> list[ItemSpec]:
    """One item per interruption / backchannel / distractor heard while an answer plays, plus one `silence`
    negative per long untouched answer."""
    items: list[ItemSpec] = []
    questions = [e for e in d.events_of("user_turn") if not e.meta.get("clauses")]
    answers = [(i, t) for i, t in enumerate(d.turns) if t.speaker == "assistant" and t.kind == "answer"]
    for n, (ai, ans) in enumerate(answers):
        q = max((e for e in questions if e.end <= ans.start), key=lambda e: e.end, default=None)
        if q is None or _answer_after(d, q.end) != (ai, ans):
            continue  # an answer to an interruption, not to a question
        qturns = _question_turns(d, q)
        if not qturns:
            continue
        start = q.start - lead_samples(f"{d.id}/react{n}")
        q_end = q.end - start
        # Negatives must end well before the answer would end anyway: a model finishing its answer right after a
        # backchannel has not been tripped by it.
        margin = _s(NEGATIVE_MARGIN_S)
        probes = [e for e in d.events if e.type in ("interruption", "user_backchannel", "distractor")
                  and ans.start <= e.start < ans.end and (e.type == "interruption" or e.end + margin <= ans.end)]
        for m, ev in enumerate(probes):
            stem = "noise" if ev.kind == "noise_burst" else ("user" if ev.speaker == "user" else "other")
            if ev.turn is not None:
                turn = d.turns[ev.turn]
                src = (turn.start, turn.end + _s(TAIL_S))
            else:
                src = (ev.start, ev.end + _s(TAIL_S))
            src = (src[0], min(src[1], d.num_samples))
            offset = ev.start - ans.start
            clip = StemClip(stem, src[0], src[1], 0)
            decision = ev.decision - ev.start if ev.decision is not None else None
            probe = Probe(_probe_name(ev), offset, offset + (ev.end - ev.start), ev.expected, True, ev.context,
                          ev.speaker, clip, decision)
            num = q_end + _s(REACTIVE_MAX_WAIT_S) + offset + (src[1] - src[0]) + _s(REACTIVE_AFTER_S)
            ref_end = ans.end
            items.append(ItemSpec(f"{d.id}/react{n}.{m}", d.id, "reactive", start, pad_to_frames(num),
                                  [_clip_of(t, "user", start, q.end + _s(TAIL_S)) for t in qturns], [probe], 1.0,
                                  q_end, " ".join(t.text for t in qturns), [], [(ans.start, ref_end)]))
        offset = _s(SILENCE_PROBE_OFFSET_S)
        if not probes and not ans.truncated and ans.end - ans.start > offset + _s(SILENCE_PROBE_S + 2.0):
            probe = Probe("silence", offset, offset + _s(SILENCE_PROBE_S), "continue", True)
            num = q_end + _s(REACTIVE_MAX_WAIT_S) + offset + _s(SILENCE_PROBE_S + REACTIVE_AFTER_S)
            items.append(ItemSpec(f"{d.id}/quiet{n}", d.id, "reactive", start, pad_to_frames(num),
                                  [_clip_of(t, "user", start, q.end + _s(TAIL_S)) for t in qturns], [probe], 1.0,
                                  q_end, " ".join(t.text for t in qturns), [], [(ans.start, ans.end)]))
    return items


def build_items(dialogues: Iterable[Dialogue], families: Sequence[str] = FAMILIES) -> list[ItemSpec]:
    """Every item of the requested families, in corpus order (deterministic)."""
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown item family {unknown[0]!r} (known: {', '.join(FAMILIES)})")
    qa = _qa_lookup() if "answer" in families or "pause" in families else {}
    out: list[ItemSpec] = []
    for d in dialogues:
        if "answer" in families or "pause" in families:
            out += [i for i in answer_and_pause_items(d, qa) if i.family in families]
        if "long_turn" in families:
            out += long_turn_items(d)
        if "reactive" in families:
            out += reactive_items(d)
    return out


def with_echo_factor(spec: ItemSpec, factor: float) -> ItemSpec:
    """The same item heard at another echo level (id suffixed ``@ef<factor>``)."""
    d = spec.to_dict()
    d["id"] = f"{spec.id}@ef{factor:g}"
    d["echo_factor"] = float(factor)
    return ItemSpec.from_dict(d)


def items_digest(specs: Sequence[ItemSpec]) -> str:
    blob = json.dumps([s.to_dict() for s in specs], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------------------------
# Arrays
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class Materialized:
    """What the harness needs to run an item: the fixed environment, the reactive probe's sound, the echo path."""

    spec: ItemSpec
    env: np.ndarray  # fixed environment at the mic (clips + noise floor), num_samples long
    probe_audio: np.ndarray | None  # the reactive probe's sound, placed by the harness
    reference: np.ndarray  # the corpus assistant's output for this window (what the oracle plays)
    rir: np.ndarray
    echo_delay: int
    echo_gain: float  # at this item's echo_factor
    nonlinearity: Nonlinearity | None
    reference_words: list[tuple[int, str]] = field(default_factory=list)  # (item sample, word) of the reference


def _floor(noise: np.ndarray, d: Dialogue, start: int, n: int) -> np.ndarray:
    """The stationary noise floor for ``n`` samples from ``start``: noise bursts are replaced by floor taken just
    before them (the floor is stationary), and the dialogue's floor is tiled when the window runs past its end."""
    floor = noise.copy()
    for ev in d.events:
        if ev.type == "distractor" and ev.kind == "noise_burst":
            s, e = ev.start, min(len(floor), ev.end + _s(TAIL_S))
            src = max(0, s - (e - s))
            piece = floor[src:s] if s - src == e - s else np.resize(floor[: max(1, s)], e - s)
            floor[s:e] = piece
    out = np.resize(np.roll(floor, -start), n) if len(floor) else np.zeros(n, np.float32)
    return out.astype(np.float32)


def materialize(spec: ItemSpec, d: Dialogue, audio: dict[str, np.ndarray], bank: Any) -> Materialized:
    n = spec.num_samples
    env = _floor(audio["noise"], d, spec.start, n)
    for c in spec.clips:
        seg = audio[c.stem][c.src_start : c.src_end]
        stop = min(n, c.at + len(seg))
        if stop > c.at >= 0:
            env[c.at : stop] += seg[: stop - c.at]
    probe = spec.reactive_probe
    probe_audio = None
    if probe is not None and probe.clip is not None:
        c = probe.clip
        # A noise burst's clip carries the floor under it too: the floor is 20-40 dB below a burst, so hearing it
        # twice for a second is inaudible (separating them exactly is impossible from the stored stems).
        probe_audio = audio[c.stem][c.src_start : c.src_end].astype(np.float32)
    reference = np.zeros(n, np.float32)
    for s, e in spec.reference:
        lo, hi = max(s, spec.start), min(e, spec.start + n)
        if hi > lo:
            reference[lo - spec.start : hi - spec.start] = audio["assistant"][lo:hi]
    words = [(w.start - spec.start, w.text) for t in d.turns if t.speaker == "assistant" for w in t.words
             if any(s <= w.start < e for s, e in spec.reference) and 0 <= w.start - spec.start < n]
    scene = d.scene
    if scene is None:
        raise ValueError(f"{d.id}: the record has no scene (not a generated dialogue): cannot rebuild its echo path")
    gain = unit_echo_gain(scene, audio["assistant"], bank) * spec.echo_factor
    return Materialized(spec, env, probe_audio, reference, bank.room_of(scene).rirs["loudspeaker"],
                        int(scene.echo.system_delay_samples), gain, scene.echo.nonlinearity, words)


__all__ = ["ItemSpec", "Probe", "StemClip", "Materialized", "build_items", "materialize", "with_echo_factor",
           "BARGE_IN_NEGATIVES", "BLOCK_SAMPLES"]
