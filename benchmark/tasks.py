"""The benchmark's tasks: which item runs each one needs, how a run becomes a per-item record, how records aggregate.

Versioned definitions (lm-evaluation-harness's rule: a result names the task version it was scored with).  Every
metric is defined in :mod:`benchmark.metrics`; the tasks here choose items and echo levels:

=============== ============================== ==============================================================
task            items (echo factors)           aggregates
=============== ============================== ==============================================================
turn_taking     answer (0, 1.0)                takeover_rate, latency_s (mean over take-overs, clipped at 0),
                                               latency_median_s, early_takeover_rate
pause_handling  pause (1.0)                    takeover_rate (inside in-turn pauses; lower is better)
backchannel     reactive user backchannels     continue_rate (the model keeps talking through user
                (1.0), long_turn (1.0)         backchannels); frequency_per_min of its own backchannels during
                                               long user turns vs reference_per_min, latency_s after each
                                               clause-end cue, jsd of those latencies vs the corpus's own
barge_in        reactive (0, 0.1, 1.0)         precision / recall / f1 overall and for the independent and
                                               dependent sets, stop_latency_s, false-alarm rate per negative kind
echo            answer (0, 1.0)                self_interruption_rate; qa_accuracy with and without echo
qa              answer with answers (0, 1.0)   s2t_accuracy (text stream), s2s_accuracy (ASR of the audio)
=============== ============================== ==============================================================

Top-level aggregates use echo factor 1.0 (the scene as the corpus rendered it); ``by_echo_factor`` holds every
factor the task ran.  Echo factor 1.0 means the corpus's sampled signal-to-echo ratio; 0 means no echo.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from benchmark import metrics as M
from benchmark.activity import speech_segments
from benchmark.harness import ItemRun
from benchmark.items import BARGE_IN_NEGATIVES, ItemSpec
from datagen.schema import SAMPLE_RATE, seconds_to_samples

TASKS_VERSION = "1.2"  # 1.1: barge_in 1.1; 1.2: a take-over starts after the question (turn_taking 1.1)


@dataclass(frozen=True)
class Task:
    name: str
    version: str
    families: tuple[str, ...]
    echo_factors: tuple[float, ...]
    wants: Callable[[ItemSpec], bool] = lambda spec: True


def _is_user_backchannel(spec: ItemSpec) -> bool:
    return spec.family == "long_turn" or (spec.reactive_probe is not None and spec.reactive_probe.name == "user_backchannel")


TASKS: dict[str, Task] = {
    "turn_taking": Task("turn_taking", "1.1", ("answer",), (0.0, 1.0)),  # 1.1: take-overs start after the question
    "pause_handling": Task("pause_handling", "1.0", ("pause",), (1.0,)),
    "backchannel": Task("backchannel", "1.0", ("reactive", "long_turn"), (1.0,), _is_user_backchannel),
    "barge_in": Task("barge_in", "1.1", ("reactive",), (0.0, 0.1, 1.0)),
    "echo": Task("echo", "1.0", ("answer",), (0.0, 1.0)),
    "qa": Task("qa", "1.0", ("answer",), (0.0, 1.0), lambda spec: bool(spec.answers)),
}


def resolve_tasks(names: Sequence[str] | None) -> list[Task]:
    if not names:
        return list(TASKS.values())
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ValueError(f"unknown task {unknown[0]!r} (known: {', '.join(TASKS)})")
    return [TASKS[n] for n in names]


def plan_runs(specs: Iterable[ItemSpec], tasks: Sequence[Task],
              echo_factors: Mapping[str, Sequence[float]] | None = None) -> list[tuple[ItemSpec, float]]:
    """(item, echo factor) pairs the tasks need, each once, in a stable order."""
    wanted: dict[str, tuple[ItemSpec, set[float]]] = {}
    for spec in specs:
        for task in tasks:
            if spec.family in task.families and task.wants(spec):
                factors = (echo_factors or {}).get(task.name, task.echo_factors)
                wanted.setdefault(spec.id, (spec, set()))[1].update(float(f) for f in factors)
    return [(spec, f) for spec, fs in wanted.values() for f in sorted(fs)]


# ------------------------------------------------------------------------------------------------------------------
# One run -> one record
# ------------------------------------------------------------------------------------------------------------------
def _sec(x: int | None) -> float | None:
    return None if x is None else round(x / SAMPLE_RATE, 4)


def score_run(spec: ItemSpec, echo_factor: float, run: ItemRun, cfg: M.MetricConfig,
              asr: Any = None, text_stream: bool = True, reference: np.ndarray | None = None) -> dict[str, Any]:
    """The per-item record: the model's speech, and every outcome this item can tell (None where it cannot).

    ``reference`` (the corpus assistant's audio for the window) gives long-turn items their reference backchannels,
    measured with the same VAD as the model's."""
    rec: dict[str, Any] = {
        "id": run.item_id, "item": spec.id, "dialogue": spec.dialogue_id, "family": spec.family,
        "echo_factor": echo_factor, "failure": run.failure, "qa_item": bool(spec.answers),
        "compute_s": round(run.compute_s, 6), "audio_s": run.audio_s,
        "probe_name": spec.reactive_probe.name if spec.reactive_probe else None,
    }
    if run.failure:
        return rec
    n = spec.num_samples
    segs = speech_segments(run.played)
    b = M.bursts(segs, cfg)
    rec["model_speech_s"] = [[_sec(s), _sec(e)] for s, e in segs]
    rec["onset_s"] = _sec(run.onset)
    rec["question_end_s"] = _sec(spec.question_end)
    rec["cues_s"] = [[p.name, _sec(p.start), _sec(p.end)] for p in spec.probes if not p.reactive]
    q_end = spec.question_end
    early = seconds_to_samples(cfg.early_tolerance_s)
    q_start = next((p.start for p in spec.probes if p.name == "user_turn"), 0)
    if spec.family in ("answer", "pause", "long_turn"):
        onset = M.takeover_onset(b, q_end - early, n, cfg.takeover_min_s, started=True)
        rec["takeover"] = int(onset is not None)
        rec["latency_s"] = _sec(max(0, onset - q_end)) if onset is not None else None
        rec["early_takeover"] = int(M.takeover_onset(b, q_start, q_end - early, cfg.backchannel_max_s) is not None)
    if spec.family == "answer":
        rec["self_interrupt"] = M.self_interruption(b, q_end - early, n, cfg)
        if spec.answers:
            from datagen.content import is_correct

            if text_stream:
                text = run.joined_text(since=q_end)
                rec["text"] = text
                rec["qa_s2t"] = int(bool(text) and is_correct(text, spec.answers))
            else:
                rec["qa_s2t"] = None
            if asr is not None and run.played[q_end:].any():
                heard = " ".join(w.word for w in asr.transcribe(run.played[q_end:], SAMPLE_RATE))
                rec["asr_text"] = heard
                rec["qa_s2s"] = int(is_correct(heard, spec.answers))
            elif asr is not None:
                rec["asr_text"], rec["qa_s2s"] = "", 0
    if spec.family == "pause":
        min_len = seconds_to_samples(cfg.takeover_min_s)

        def covers(p: Any) -> bool:
            need = min((p.end - p.start) // 2, seconds_to_samples(0.5))
            return any(e - s >= min_len and min(e, p.end) - max(s, p.start) >= need for s, e in b)

        rec["pause_takeover"] = int(any(covers(p) for p in spec.probes if p.name == "user_pause"))
    if spec.family == "long_turn":
        cues = sorted(p.start for p in spec.probes if p.name == "assistant_backchannel")
        bc_max = seconds_to_samples(cfg.backchannel_max_s)
        turn = next(p for p in spec.probes if p.name == "user_turn")

        def backchannels(bursts_: Sequence[tuple[int, int]]) -> list[int]:  # short bursts while the user talks
            return [s for s, e in bursts_ if turn.start <= s < q_end and e - s < bc_max]

        def cue_latencies(starts: list[int]) -> list[float | None]:  # after the latest clause-end cue
            return [_sec(s - max((c for c in cues if c <= s), default=s)) for s in starts]

        mine = backchannels(b)
        ref = backchannels(M.bursts(speech_segments(reference), cfg)) if reference is not None else []
        rec.update(backchannels=len(mine), bc_latency_s=cue_latencies(mine), user_speech_s=_sec(q_end - turn.start),
                   reference_backchannels=len(ref), reference_bc_latency_s=cue_latencies(ref))
    probe = spec.reactive_probe
    if probe is not None:
        rec.update(probe=probe.name, context=probe.context, speaker=probe.speaker,
                   positive=probe.name == "interruption", fired=run.fired_at is not None,
                   fired_at_s=_sec(run.fired_at))
        if run.fired_at is not None:
            rec["cues_s"].append([probe.name, _sec(run.fired_at), _sec(run.fired_at + probe.end - probe.start)])
        if run.fired_at is None:
            rec["outcome"] = "unfired"
        else:
            st = M.stop_after(b, run.fired_at, n, cfg, probe.decision_after or 0)
            rec["stop_latency_s"] = _sec(st.latency)
            if not st.speaking:
                rec["outcome"] = "idle"
            elif rec["positive"]:
                rec["outcome"] = "caught" if st.stopped else "missed"
            else:
                rec["outcome"] = "false_alarm" if st.stopped else "continued"
    return rec


# ------------------------------------------------------------------------------------------------------------------
# Records -> aggregates
# ------------------------------------------------------------------------------------------------------------------
def _rate(records: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
    """Mean of ``key`` with its interval over dialogues (:func:`benchmark.metrics.bootstrap_ci`), n and dialogues."""
    rs = [r for r in records if r.get(key) is not None]
    vals, groups = [r[key] for r in rs], [r.get("dialogue") for r in rs]
    return {"value": M.mean_or_none(vals), "ci95": M.bootstrap_ci(vals, groups=groups), "n": len(vals),
            "dialogues": len(set(groups))}


def _barge_in(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def counts(rs: Sequence[Mapping[str, Any]], negatives: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        tp = sum(r["outcome"] == "caught" for r in rs)
        fn = sum(r["outcome"] == "missed" for r in rs)
        fp = sum(r["outcome"] == "false_alarm" for r in negatives)
        out = M.prf(tp, fp, fn)
        if not rs:  # no positives of this kind in the corpus: nothing to report, not a zero
            out.update(precision=None, recall=None, f1=None)
        return out

    pos = [r for r in records if r.get("positive")]
    neg = [r for r in records if r.get("probe") in BARGE_IN_NEGATIVES]
    out = counts(pos, neg)
    out["independent"] = counts([r for r in pos if r.get("context") == "independent"], neg)
    out["dependent"] = counts([r for r in pos if r.get("context") == "dependent"], neg)
    for speaker in ("user", "third"):  # who barged in: the user, or a third speaker addressing the assistant
        out[f"speaker_{speaker}"] = counts([r for r in pos if r.get("speaker") == speaker], neg)
    lat = [r["stop_latency_s"] for r in pos if r["outcome"] == "caught"]
    out["stop_latency_s"] = M.mean_or_none(lat)
    out["stop_latency_median_s"] = float(np.median(lat)) if lat else None
    out["stop_latencies_s"] = lat
    stops = {kind: [int(r["outcome"] == "false_alarm") for r in neg
                    if r["probe"] == kind and r["outcome"] in ("false_alarm", "continued")]
             for kind in BARGE_IN_NEGATIVES}
    out["false_alarm_rate"] = {kind: M.mean_or_none(v) for kind, v in stops.items()}
    # the rates' numerators and n: whether a model stops for other people's speech or only for its own voice
    out["false_alarms"] = {kind: {"stopped": sum(v), "n": len(v)} for kind, v in stops.items() if v}
    out["n_positive"], out["n_negative"] = len(pos), len(neg)
    out["n_unfired"] = sum(r["outcome"] == "unfired" for r in records)
    out["n_idle"] = sum(r["outcome"] == "idle" for r in records)
    # P/R/F1 are conditional on the model talking when the probe came; a model that has already fallen silent
    # (e.g. cut off by its own echo: see the echo task) is not tested, and this says how often that happened.
    fired = sum(r["outcome"] != "unfired" for r in records)
    out["idle_rate"] = out["n_idle"] / fired if fired else None
    out["n_scored"] = fired - out["n_idle"]
    # F1 interval: resample dialogues (all of a drawn dialogue's scored probes, positives and negatives)
    scored = [r for r in pos + neg if r["outcome"] in ("caught", "missed", "false_alarm", "continued")]
    by_dialogue: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for r in scored:
        by_dialogue[r.get("dialogue")].append(r)
    names = sorted(by_dialogue, key=str)
    out["n_positive_dialogues"] = len({r.get("dialogue") for r in pos})
    out["f1_ci95"] = None
    if len(names) >= 2:
        rng = np.random.default_rng(0)
        f1s = []
        for _ in range(1000):
            pick = [r for i in rng.integers(0, len(names), len(names)) for r in by_dialogue[names[i]]]
            f1 = counts([r for r in pick if r.get("positive")], [r for r in pick if not r.get("positive")])["f1"]
            if f1 is not None:  # a resample without positives has no F1
                f1s.append(f1)
        if f1s:
            out["f1_ci95"] = [float(np.quantile(f1s, 0.025)), float(np.quantile(f1s, 0.975))]
    return out


def wrong_outcomes(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a scored item record counts against, as (task, what went wrong) pairs, by the rules the aggregates
    above use (so a report's list of failures adds up to its metrics): a run that failed, an answer never given or
    cut off by the model itself, a turn taken in a pause or inside a long user turn, a missed interruption, a stop
    for a negative.  QA misses are left out: they are every answer of a model without the bank's knowledge.
    (``datagen.pairs.runs.wrong_outcome`` is another rule on purpose: the one outcome a preference pair corrects.)"""
    if record.get("failure"):
        return [("run", f"failed: {record['failure']}")]
    family, out = record.get("family"), []
    if family == "answer":
        if record.get("takeover") == 0:
            out.append(("turn_taking", "never took the turn after the question (silent, or talking through its end)"))
        if record.get("self_interrupt") == 1:
            out.append(("echo", "cut its own answer off (self-interruption)"))
    elif family == "pause" and record.get("pause_takeover") == 1:
        out.append(("pause_handling", "took the turn in a pause"))
    elif family == "long_turn" and record.get("early_takeover") == 1:
        out.append(("backchannel", "took the turn inside a long user turn"))
    elif family == "reactive":
        who = {"user": "the user", "third": "a third speaker"}.get(record.get("speaker"), "-")
        if record.get("outcome") == "missed":
            out.append(("barge_in", f"missed an interruption ({record.get('context') or '-'}, by {who})"))
        elif record.get("outcome") == "false_alarm":
            task = "backchannel" if record.get("probe") == "user_backchannel" else "barge_in"
            out.append((task, f"stopped for: {str(record.get('probe')).replace('_', ' ')}"))
    return out


def _by_factor(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[f"{r['echo_factor']:g}"].append(r)
    return dict(sorted(groups.items(), key=lambda kv: float(kv[0])))


def _top(groups: Mapping[str, list[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    return groups.get("1", []) or [r for rs in groups.values() for r in rs]


def aggregate_task(task: Task, records: Sequence[Mapping[str, Any]], cfg: M.MetricConfig) -> dict[str, Any]:
    """The task's aggregates from the records of the runs it asked for (failed runs are counted, not scored)."""
    wanted = set(task.echo_factors)
    mine = [r for r in records if r["family"] in task.families and r["echo_factor"] in wanted]
    if task.name == "qa":
        mine = [r for r in mine if r.get("qa_item")]
    if task.name == "backchannel":
        mine = [r for r in mine if r["family"] == "long_turn" or r.get("probe_name") == "user_backchannel"]
    failed = [r for r in mine if r.get("failure")]
    ok = [r for r in mine if not r.get("failure")]
    groups = _by_factor(ok)
    top = _top(groups)
    out: dict[str, Any] = {"version": task.version, "n_items": len(mine), "n_failed": len(failed)}
    if task.name == "turn_taking":
        def tt_stats(rs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
            tor, lat, early = _rate(rs, "takeover"), _rate(rs, "latency_s"), _rate(rs, "early_takeover")
            lats = [r["latency_s"] for r in rs if r.get("latency_s") is not None]
            return {"takeover_rate": tor["value"], "takeover_rate_ci95": tor["ci95"], "latency_s": lat["value"],
                    "latency_s_ci95": lat["ci95"], "latency_median_s": float(np.median(lats)) if lats else None,
                    "latencies_s": lats, "early_takeover_rate": early["value"], "n": tor["n"],
                    "n_dialogues": tor["dialogues"]}

        out.update(tt_stats(top))
        out["by_echo_factor"] = {f: tt_stats(rs) for f, rs in groups.items()}
    elif task.name == "pause_handling":
        tor = _rate(top, "pause_takeover")
        out.update(takeover_rate=tor["value"], takeover_rate_ci95=tor["ci95"], n=tor["n"], n_dialogues=tor["dialogues"])
    elif task.name == "backchannel":
        user_bc = [r for r in top if r.get("probe") == "user_backchannel" and r["outcome"] in ("continued", "false_alarm")]
        cont = _rate([{"c": int(r["outcome"] == "continued"), "dialogue": r.get("dialogue")} for r in user_bc], "c")
        long_turns = [r for r in top if r["family"] == "long_turn"]
        minutes = sum(r["user_speech_s"] for r in long_turns) / 60
        lat = [x for r in long_turns for x in r["bc_latency_s"]]
        ref = [x for r in long_turns for x in r["reference_bc_latency_s"]]
        freq = sum(r["backchannels"] for r in long_turns) / minutes if minutes else None
        ref_freq = sum(r["reference_backchannels"] for r in long_turns) / minutes if minutes else None
        out.update(continue_rate=cont["value"], continue_rate_ci95=cont["ci95"], n_user_backchannels=cont["n"],
                   n_user_backchannel_dialogues=cont["dialogues"],
                   n_unscored_user_backchannels=sum(r.get("probe") == "user_backchannel" for r in top) - cont["n"],
                   frequency_per_min=freq, reference_per_min=ref_freq,
                   frequency_ratio=(freq / ref_freq if freq is not None and ref_freq else None),
                   latency_s=M.mean_or_none(lat), latencies_s=lat, reference_latencies_s=ref,
                   jsd=M.jsd(lat, ref, cfg.latency_bins_s),
                   early_takeover_rate=_rate(long_turns, "early_takeover")["value"], n_long_turns=len(long_turns))
    elif task.name == "barge_in":
        out.update(_barge_in(top))
        out["by_echo_factor"] = {f: _barge_in(rs) for f, rs in groups.items()}
    elif task.name == "echo":
        def echo_stats(rs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
            si = _rate(rs, "self_interrupt")
            return {"self_interruption_rate": si["value"], "self_interruption_rate_ci95": si["ci95"], "n": si["n"],
                    "n_dialogues": si["dialogues"],
                    "qa_accuracy": _rate(rs, "qa_s2t")["value"] if any("qa_s2t" in r for r in rs) else None}
        out.update(echo_stats(top))
        out["by_echo_factor"] = {f: echo_stats(rs) for f, rs in groups.items()}
        with_echo = out["by_echo_factor"].get("1", {}).get("self_interruption_rate")
        without = out["by_echo_factor"].get("0", {}).get("self_interruption_rate")
        # what echo adds over the same items without it (short answers count as stops at both levels)
        out["self_interruption_excess"] = with_echo - without if with_echo is not None and without is not None else None
        out["qa_accuracy_echo"] = out["by_echo_factor"].get("1", {}).get("qa_accuracy")
        out["qa_accuracy_no_echo"] = out["by_echo_factor"].get("0", {}).get("qa_accuracy")
    elif task.name == "qa":
        def qa_stats(rs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
            s2t, s2s = _rate(rs, "qa_s2t"), _rate(rs, "qa_s2s")
            return {"s2t_accuracy": s2t["value"], "s2t_accuracy_ci95": s2t["ci95"], "s2s_accuracy": s2s["value"],
                    "s2s_accuracy_ci95": s2s["ci95"], "n": s2t["n"], "n_dialogues": s2t["dialogues"]}
        out.update(qa_stats(top))
        out["by_echo_factor"] = {f: qa_stats(rs) for f, rs in groups.items()}
    if failed:
        out["failures"] = sorted({r["failure"] for r in failed})[:10]
    return out
