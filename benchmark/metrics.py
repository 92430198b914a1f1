"""Metric definitions on speech timelines (pure functions, in samples), with their sources.

Speech of the model is a list of VAD spans (:mod:`benchmark.activity`), merged into *bursts*: spans closer than
``burst_gap`` are one burst, so every burst is followed by at least ``burst_gap`` of silence (or the end of audio).

* **Take-over** (Full-Duplex-Bench v1, Lin et al. 2025, ``eval_smooth_turn_taking.py``: no words → 0; words spanning
  < 1 s and ≤ 3 words → 0; else 1): model speech inside the window (from ``early_tolerance`` before the user's end)
  forming a burst of at least ``takeover_min`` (1 s) there.  A shorter burst is a backchannel, not a take-over.
  **Latency**: take-over onset minus the user's turn end, clipped at 0 and averaged over take-overs only (FDB).
  **Early take-over**: while the user is still talking (from the turn's start to ``early_tolerance`` before its
  end), a burst of at least ``backchannel_max`` (1.5 s): longer than any backchannel.  **Pause take-over**: a burst
  of at least ``takeover_min`` that covers at least half of an in-turn pause (at most 0.5 s of it).
* **Stop** (barge-in; SALMONN-omni, Yu et al. 2025, Tables 5-6 count an interruption as handled when the assistant
  yields): a probe finds the model *speaking* when a burst covers its onset; the model *stops* when that burst ends
  within ``stop_window`` (default 1.0 s) of the probe's *decision* and does not end merely because the audio
  ended.  The decision is the corpus's own causal decision time for that interruption (after the words that tell
  it from its negatives, :mod:`datagen.distributions`), so the window covers the corpus's decision distribution in
  each context and the oracle is ideal; probes without one (negatives, older corpora) count from the onset.  Stop
  latency = burst end minus probe onset.  Positives that are caught are true positives, missed positives false
  negatives; negatives that stop the model are false positives (false alarms).  Precision/recall/F1 as usual, 0
  when undefined (scikit-learn's ``zero_division=0``).
* **Self-interruption** (our closed-loop addition): once the model starts talking after the question, with nothing
  but its own echo reaching the mic, its first burst ends within ``echo_window`` (a stop) or it starts a new turn
  after ``restart_gap`` of silence.  A short answer also reads as a stop, so the echo task reports the rate at echo
  factors 1 and 0 and their difference (``self_interruption_excess``): what the echo itself causes.
* **JSD**: Jensen-Shannon divergence (base 2, in [0, 1]) between two histograms on shared bins, as FDB v1 compares
  backchannel timing distributions.
* **Confidence intervals**: percentile bootstrap (1000 resamples, fixed seed) over *dialogues*, each resample
  keeping all of a drawn dialogue's items (a cluster bootstrap): items of one dialogue share its voices, room and
  lines, so they are not independent samples.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np

from benchmark.activity import Span, merge
from datagen.schema import seconds_to_samples

# 1.1: the stop window counts from the probe's decision; 1.2: intervals resample dialogues; 1.3: barge-in's
# ``false_alarms`` (stopped / n per negative kind, beside the rates)
METRICS_VERSION = "1.3"
# Versions whose per-item records this one scores the same way (only the aggregates changed since): their results
# can be re-aggregated without running the model again (``duplexkit bench rescore``).
SAME_ITEMS_AS: tuple[str, ...] = ("1.1", "1.2", "1.3")


@dataclass(frozen=True)
class MetricConfig:
    takeover_min_s: float = 1.0  # a burst shorter than this is a backchannel, not a take-over (FDB's 1 s rule)
    burst_gap_s: float = 0.5  # pauses shorter than this stay inside one burst; a stop is a silence at least this long
    stop_window_s: float = 1.0  # barge-in: caught when the model stops within this of the probe's decision
    early_tolerance_s: float = 0.24  # take-over this close before the user's end is not early (3 blocks)
    echo_window_s: float = 2.0  # self-interruption: stopping this soon after starting, with only echo present
    restart_gap_s: float = 1.0  # ... or speaking again after at least this much silence (a new turn)
    backchannel_max_s: float = 1.5  # a model burst shorter than this during a user's long turn is a backchannel
    latency_bins_s: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(16))  # JSD bins for bc latencies

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "MetricConfig":
        from datagen.common.config import check_known_keys

        d = dict(d or {})
        check_known_keys(d, cls, "metrics")
        cfg = cls(**{k: (tuple(v) if k == "latency_bins_s" else float(v)) for k, v in d.items()})
        for f in fields(cfg):
            if f.name != "latency_bins_s" and not getattr(cfg, f.name) > 0:
                raise ValueError(f"metrics.{f.name}: must be > 0, got {getattr(cfg, f.name)}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bursts(segments: Sequence[Span], cfg: MetricConfig) -> list[Span]:
    return merge(list(segments), seconds_to_samples(cfg.burst_gap_s))


def takeover_onset(bursts_: Sequence[Span], lo: int, hi: int, min_s: float, started: bool = False) -> int | None:
    """Where the model holds the floor inside ``[lo, hi)``: the first burst, clipped to the window, that lasts at
    least ``min_s`` there; its clipped start.  With ``started`` only a burst that starts inside the window counts:
    a model already talking at ``lo`` did not take the turn there, it talked through the user's end (tasks 1.2: FDB
    counts any words after the user's end, which let a model that talks from a fixed time on take every turn that
    ends before it, with latency 0; docs/benchmark.md)."""
    min_len = seconds_to_samples(min_s)
    for s, e in bursts_:
        if started and s < lo:
            continue
        s2, e2 = max(s, lo), min(e, hi)
        if e2 - s2 >= min_len:
            return s2
    return None


@dataclass(frozen=True)
class StopResult:
    speaking: bool  # a burst covered the probe's onset
    stopped: bool
    latency: int | None  # samples from the onset to the burst's end (when it ended inside the audio)


def stop_after(bursts_: Sequence[Span], onset: int, num_samples: int, cfg: MetricConfig,
               decision: int = 0) -> StopResult:
    """Did the model, speaking at ``onset``, fall silent within the stop window after the decision (``decision``
    samples after the onset: when the probe's audio first allows a causal listener to decide)?"""
    gap = seconds_to_samples(cfg.burst_gap_s)
    for s, e in bursts_:
        if s <= onset < e:
            ended = e + gap <= num_samples  # followed by a real silence, not by the end of the audio
            latency = e - onset if ended else None
            stopped = ended and e - onset <= decision + seconds_to_samples(cfg.stop_window_s)
            return StopResult(True, stopped, latency)
    return StopResult(False, False, None)


def self_interruption(bursts_: Sequence[Span], lo: int, num_samples: int, cfg: MetricConfig) -> int | None:
    """1 when the model, having started to talk after ``lo``, stops within ``echo_window_s`` or starts a new turn
    (speaks again after at least ``restart_gap_s`` of silence); None when it never spoke."""
    first = next(((s, e) for s, e in bursts_ if e > lo), None)
    if first is None:
        return None
    s, e = max(first[0], lo), first[1]
    stopped = e + seconds_to_samples(cfg.burst_gap_s) <= num_samples and e - s < seconds_to_samples(cfg.echo_window_s)
    restarted = any(s2 >= e + seconds_to_samples(cfg.restart_gap_s) for s2, _ in bursts_)
    return int(stopped or restarted)


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def jsd(a: Sequence[float], b: Sequence[float], bins: Sequence[float]) -> float | None:
    """Jensen-Shannon divergence (base 2) of two samples' histograms on ``bins`` (values past the last edge go in
    the last bin); None when either sample is empty."""
    if len(a) == 0 or len(b) == 0:
        return None
    edges = list(bins) + [math.inf]
    p = np.histogram(np.clip(a, edges[0], None), edges)[0].astype(float)
    q = np.histogram(np.clip(b, edges[0], None), edges)[0].astype(float)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x: np.ndarray, y: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / y[mask])))

    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


def mean_or_none(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def bootstrap_ci(values: Sequence[float | None], n: int = 1000, seed: int = 0, level: float = 0.95,
                 groups: Sequence[Any] | None = None) -> list[float] | None:
    """Percentile bootstrap interval of the mean over items (None values are left out; None if < 2 values).

    With ``groups`` (one label per value: the item's dialogue), whole groups are resampled, a cluster bootstrap:
    the items of one dialogue share its voices, room and lines and tend to fail together (a test barge-in dialogue
    holds 1-6 probes), so resampling items alone gives intervals that are too narrow.  None if < 2 groups.
    """
    keep = [i for i, v in enumerate(values) if v is not None]
    vals = np.array([float(values[i]) for i in keep])
    if groups is None:
        if len(vals) < 2:
            return None
        rng = np.random.default_rng(seed)
        means = vals[rng.integers(0, len(vals), (n, len(vals)))].mean(axis=1)
    else:
        labels = [groups[i] for i in keep]
        names = sorted(set(labels), key=str)
        if len(names) < 2:
            return None
        index = {g: k for k, g in enumerate(names)}
        which = np.array([index[g] for g in labels])
        sums = np.bincount(which, weights=vals, minlength=len(names))
        counts = np.bincount(which, minlength=len(names)).astype(float)
        pick = np.random.default_rng(seed).integers(0, len(names), (n, len(names)))
        means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]
