"""Timing facts measured back from generated dialogues, for ``stats.json`` and ``duplexkit inspect``.

Each quantity is named after the reference distribution in :mod:`datagen.distributions` it should follow, so a
corpus can be checked against the distributions it was drawn from (the planners' own adjustments, e.g. a minimum
gap after an interruption, show up as departures, which is the point of looking).  Histograms use fixed bin edges
per quantity (so histograms of two corpora can be compared or summed); values outside fall in under/over counts.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterable, Mapping

import numpy as np

from datagen.distributions import REFERENCE, ClippedNormal
from datagen.schema import CONTEXTS, Dialogue, Event, samples_to_seconds
from datagen.timeline import BACKCHANNEL_WINDOW_TAIL

HIST_BINS = 24
DECISION_LATENCY_MAX_S = 4.0  # histogram range of onset -> decision (longer cues fall in "over")


def _first_assistant_turn_after(d: Dialogue, t: int) -> int | None:
    starts = [x.start for x in d.turns if x.speaker == "assistant" and x.kind != "backchannel" and x.start >= t]
    return min(starts) if starts else None


def timing_samples(d: Dialogue) -> dict[str, list[float]]:
    """Per-quantity samples (seconds) measured from one dialogue's turns and events."""
    out: dict[str, list[float]] = {name: [] for name in REFERENCE}
    ev = lambda type_: [e for e in d.events if e.type == type_]  # noqa: E731
    answers = [e for e in ev("assistant_turn")]
    # response_gap: end of what the assistant responds to -> start of its answer.
    for e in ev("user_turn") + [e for e in ev("interruption") if e.context == "dependent"]:
        start = _first_assistant_turn_after(d, e.end)
        if start is not None and (e.type == "interruption" or not _interrupted_between(d, e.end, start)):
            out["response_gap"].append(samples_to_seconds(start - e.end))
    # user_gap: the assistant finishes (not cut off) -> the user's next question (negative: overlap).
    for e in ev("user_turn"):
        before = [a for a in answers if a.start < e.start and not a.meta.get("truncated")]
        if before:
            prev = max(before, key=lambda a: a.start)
            if not [x for x in d.events if x.type in ("interruption", "distractor") and prev.start <= x.start < e.start]:
                out["user_gap"].append(samples_to_seconds(e.start - prev.end))
    out["pause"] = [samples_to_seconds(e.end - e.start) for e in ev("user_pause")]
    for e in ev("interruption"):
        cue = cue_end(d, e)
        if cue is not None and e.decision is not None:
            out["decision_delay"].append(samples_to_seconds(e.decision - cue))
    for e in ev("interruption") + ev("distractor") + ev("user_backchannel"):
        host = [a for a in answers if a.start <= e.start < max(a.end, a.start + 1)]
        if host and e.expected in ("stop", "continue"):
            first_in_host = min((x.start for x in d.events if x.type == e.type and host[0].start <= x.start), default=None)
            if first_in_host == e.start:  # only the first event per answer was placed by barge_in_onset
                out["barge_in_onset"].append(samples_to_seconds(e.start - host[0].start))
    bcs = sorted(ev("user_backchannel"), key=lambda e: e.start)
    for a, b in zip(bcs, bcs[1:]):
        if _same_host(answers, a, b):
            out["backchannel_interval"].append(samples_to_seconds(b.start - a.end))
    for e in ev("assistant_backchannel"):
        out["clause_pause"].append(samples_to_seconds(e.end - e.start - BACKCHANNEL_WINDOW_TAIL))
        if e.meta.get("taken") and e.turn is not None:
            out["backchannel_latency"].append(samples_to_seconds(d.turns[e.turn].start - e.start))
    return out


def cue_end(d: Dialogue, e: Event) -> int | None:
    """End of the words that tell a stop event apart from its negatives (``meta.cue_words`` of its line)."""
    n = e.meta.get("cue_words")
    words = d.turns[e.turn].words if e.turn is not None else []
    return words[min(int(n), len(words)) - 1].end if n and words else None


def decision_latencies(d: Dialogue) -> dict[str, list[float]]:
    """Seconds from each stop event's onset to its decision, per interruption context."""
    out: dict[str, list[float]] = {c: [] for c in CONTEXTS}
    for e in d.events:
        if e.expected == "stop" and e.decision is not None and e.context in out:
            out[e.context].append(samples_to_seconds(e.decision - e.start))
    return out


def _interrupted_between(d: Dialogue, t0: int, t1: int) -> bool:
    return any(e.type == "interruption" and t0 <= e.start < t1 for e in d.events)


def _same_host(answers: list[Event], a: Event, b: Event) -> bool:
    return any(x.start <= a.start and b.start < x.end for x in answers)


def histogram(name: str, values: Iterable[float], ref: ClippedNormal | None = None) -> dict[str, Any]:
    """``values`` binned over ``ref``'s range (default: the built-in reference of ``name``), with ``ref`` recorded."""
    ref = ref or REFERENCE[name]
    summary = _histogram(values, ref.lo, ref.hi)
    summary["reference"] = asdict(ref)  # datagen.inspect reads it back as the ClippedNormal it was
    return summary


def _histogram(values: Iterable[float], lo: float, hi: float) -> dict[str, Any]:
    v = np.asarray(list(values), dtype=float)
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    counts, _ = np.histogram(v[(v >= lo) & (v <= hi)], bins=edges)
    summary: dict[str, Any] = {
        "n": int(v.size),
        "edges": [round(float(x), 4) for x in edges],
        "counts": counts.astype(int).tolist(),
        "under": int((v < lo).sum()),
        "over": int((v > hi).sum()),
    }
    if v.size:
        summary.update(
            mean=round(float(v.mean()), 4),
            std=round(float(v.std()), 4),
            min=round(float(v.min()), 4),
            max=round(float(v.max()), 4),
            p10=round(float(np.percentile(v, 10)), 4),
            p50=round(float(np.percentile(v, 50)), 4),
            p90=round(float(np.percentile(v, 90)), 4),
        )
    return summary


def corpus_timing(dialogues: Iterable[Dialogue], reference: Mapping[str, ClippedNormal] | None = None
                  ) -> dict[str, Any]:
    """Histograms of every timing quantity over a corpus, plus the overlap rate of speaker changes, each against
    the distribution it was drawn from (``reference``: the config's, :func:`datagen.distributions.timing_from_config`;
    default the built-in ones), so a ``timing`` override is compared with itself, not with the default."""
    reference = reference or REFERENCE
    pooled: dict[str, list[float]] = {name: [] for name in REFERENCE}
    decisions: dict[str, list[float]] = {c: [] for c in CONTEXTS}
    for d in dialogues:
        for name, values in timing_samples(d).items():
            pooled[name].extend(values)
        for context, values in decision_latencies(d).items():
            decisions[context].extend(values)
    out: dict[str, Any] = {name: histogram(name, values, reference[name]) for name, values in pooled.items()}
    # Onset -> decision per context: the cue's length plus the reaction (what a benchmark's caught window covers).
    out["decision_latency"] = {c: _histogram(v, 0.0, DECISION_LATENCY_MAX_S) for c, v in decisions.items()}
    gaps = np.asarray(pooled["user_gap"])
    out["overlap_rate"] = round(float((gaps < 0).mean()), 4) if gaps.size else None
    return out
