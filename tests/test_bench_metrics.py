"""Metric definitions on hand-built timelines (benchmark.metrics and the per-item scoring in benchmark.tasks)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark import metrics as M
from benchmark.activity import merge
from benchmark.harness import ItemRun
from benchmark.items import StemClip, ItemSpec, Probe
from benchmark.tasks import TASKS, aggregate_task, plan_runs, score_run

SR = 16000
CFG = M.MetricConfig()


def s(x: float) -> int:
    return int(round(x * SR))


def spans(*pairs):
    return [(s(a), s(b)) for a, b in pairs]


def test_bursts_join_short_gaps_only():
    assert merge(spans((0, 1), (1.2, 2), (3, 4)), s(0.5)) == spans((0, 2), (3, 4))


@pytest.mark.parametrize("bursts,expected", [
    ([], None),  # no speech: no take-over
    (spans((3.2, 3.9)), None),  # shorter than 1 s: a backchannel
    (spans((3.4, 6.0)), 3.4),
    (spans((3.2, 3.6), (4.5, 7.0)), 4.5),  # the backchannel is skipped, the real answer counts
    (spans((1.0, 5.0)), 2.76),  # already talking at the window's start: takes over at the window start
])
def test_takeover_onset(bursts, expected):
    got = M.takeover_onset(bursts, s(2.76), s(10), CFG.takeover_min_s)
    assert (got is None) if expected is None else got == s(expected)


@pytest.mark.parametrize("bursts,expected", [
    (spans((1.0, 5.0)), None),  # talking through the user's end: not a take-over
    (spans((1.0, 5.0), (6.0, 8.0)), 6.0),  # the next burst that starts after it is
    (spans((2.8, 5.0)), 2.8),  # starting inside the window counts
])
def test_takeover_onset_started_skips_talking_through_the_end(bursts, expected):
    got = M.takeover_onset(bursts, s(2.76), s(10), CFG.takeover_min_s, started=True)
    assert (got is None) if expected is None else got == s(expected)


def test_turn_taking_does_not_count_a_model_that_talks_from_a_fixed_time(monkeypatch):
    """Scored on an answer item (the VAD replaced by known spans): a model talking from before the question's end on
    takes no turn (and took it early where it talked 1.5 s inside the question); one starting 0.3 s after the end
    takes it with that latency."""
    import benchmark.tasks as T
    from benchmark.harness import ItemRun
    from benchmark.items import ItemSpec, Probe

    n = s(12)
    spec = ItemSpec("d/answer0", "d", "answer", 0, n, [], [Probe("user_turn", s(1.0), s(4.0), "respond")], 1.0, s(4.0))
    for start, takeover, early, latency in ((2.0, 0, 1, None), (3.5, 0, 0, None), (4.3, 1, 0, 0.3)):
        monkeypatch.setattr(T, "speech_segments", lambda played, start=start: [(s(start), n)])
        run = ItemRun(spec.id, np.zeros(n, np.float32), np.zeros(n, np.float32), onset=s(start))
        rec = T.score_run(spec, 1.0, run, CFG, text_stream=False)
        assert (rec["takeover"], rec["early_takeover"]) == (takeover, early), start
        assert rec["latency_s"] is None if latency is None else rec["latency_s"] == pytest.approx(latency, abs=1e-3)


def test_stop_after_probe():
    b = spans((1, 4.5), (6, 9))
    n = s(10)
    st = M.stop_after(b, s(4.0), n, CFG)  # burst ends 0.5 s after the probe
    assert st.speaking and st.stopped and st.latency == s(0.5)
    st = M.stop_after(b, s(2.0), n, CFG)  # ends 2.5 s later: outside the 1 s window
    assert st.speaking and not st.stopped and st.latency == s(2.5)
    assert not M.stop_after(b, s(5.0), n, CFG).speaking  # silent at the probe: idle
    st = M.stop_after(b, s(8.5), s(9.2), CFG)  # speech runs to the end of the audio: not a stop
    assert st.speaking and not st.stopped and st.latency is None
    # the window counts from the probe's decision: a question that is only related 2 s in may be stopped later
    st = M.stop_after(b, s(2.0), n, CFG, decision=s(2.0))
    assert st.stopped and st.latency == s(2.5)


def test_prf_and_zero_division():
    assert M.prf(3, 1, 1) == pytest.approx({"precision": 0.75, "recall": 0.75, "f1": 0.75, "tp": 3, "fp": 1, "fn": 1})
    assert M.prf(0, 0, 5)["precision"] == 0.0 and M.prf(0, 0, 5)["f1"] == 0.0


def test_jsd_bounds():
    bins = CFG.latency_bins_s
    assert M.jsd([0.2, 0.3], [0.2, 0.3], bins) == pytest.approx(0.0)
    assert M.jsd([0.05], [1.45], bins) == pytest.approx(1.0)
    assert M.jsd([], [0.3], bins) is None


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    vals = [0, 1, 1, 0, 1, 1, 1, 0]
    ci = M.bootstrap_ci(vals)
    assert ci[0] <= np.mean(vals) <= ci[1] and ci == M.bootstrap_ci(vals)
    assert M.bootstrap_ci([1.0]) is None


def test_bootstrap_ci_over_dialogues_resamples_whole_dialogues():
    # two dialogues, each failing or passing all its items: drawing items would make the interval narrow; drawing
    # dialogues gives every resample mean 0, 1/2 or 1
    vals = [0] * 6 + [1] * 6
    groups = ["a"] * 6 + ["b"] * 6
    items, dialogues = M.bootstrap_ci(vals), M.bootstrap_ci(vals, groups=groups)
    assert dialogues == [0.0, 1.0] and items[0] > 0.2 and items[1] < 0.8
    assert M.bootstrap_ci(vals, groups=["a"] * 12) is None  # one dialogue: no spread between dialogues
    assert M.bootstrap_ci([1, None, 0], groups=["a", "b", "c"]) == M.bootstrap_ci([1, 0], groups=["a", "c"])


def test_metric_config_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="unknown key 'stop_windw_s'"):
        M.MetricConfig.from_dict({"stop_windw_s": 1})
    with pytest.raises(ValueError, match="stop_window_s"):
        M.MetricConfig.from_dict({"stop_window_s": 0})


# ------------------------------------------------------------------------------------------------------------------
# Per-item scoring on hand-made runs (the VAD is replaced by known speech spans)
# ------------------------------------------------------------------------------------------------------------------
def answer_spec(answers=("Paris",)) -> ItemSpec:
    return ItemSpec("d/answer0", "d", "answer", 0, s(10), [StemClip("user", 0, s(2), 0)],
                    [Probe("user_turn", s(0.5), s(2.5), "respond")], 1.0, s(2.5), "capital of France?",
                    list(answers), [(s(3), s(9))])


def test_answer_item_scores_takeover_latency_and_qa(monkeypatch):
    import benchmark.tasks as T

    monkeypatch.setattr(T, "speech_segments", lambda audio: spans((3.3, 8.0)))
    run = ItemRun("d/answer0@ef1", np.zeros(s(10), np.float32), np.ones(s(10), np.float32),
                  text=[(s(3.3), " The"), (s(3.4), " capital"), (s(3.5), " is"), (s(3.6), " Paris.")])
    rec = score_run(answer_spec(), 1.0, run, CFG)
    assert rec["takeover"] == 1 and rec["latency_s"] == pytest.approx(0.8)
    assert rec["early_takeover"] == 0 and rec["self_interrupt"] == 0
    assert rec["text"] == "The capital is Paris." and rec["qa_s2t"] == 1
    # a model that says one word and stops: no take-over; one that stops after 1.2 s: self-interruption
    monkeypatch.setattr(T, "speech_segments", lambda audio: spans((3.3, 3.8)))
    assert score_run(answer_spec(), 1.0, run, CFG)["takeover"] == 0
    monkeypatch.setattr(T, "speech_segments", lambda audio: spans((3.3, 4.5)))
    assert score_run(answer_spec(), 1.0, run, CFG)["self_interrupt"] == 1
    # the half-duplex symptom: a blip cut off by its own echo, then a new turn answering that echo
    monkeypatch.setattr(T, "speech_segments", lambda audio: spans((3.3, 3.6), (6.0, 9.9)))
    rec = score_run(answer_spec(), 1.0, run, CFG)
    assert rec["self_interrupt"] == 1 and rec["latency_s"] == pytest.approx(3.5)


def test_reactive_outcomes(monkeypatch):
    import benchmark.tasks as T

    def spec(name):
        probe = Probe(name, s(2.0), s(3.0), "stop" if name == "interruption" else "continue", True, "independent",
                      "user", None)
        return ItemSpec("d/react0.0", "d", "reactive", 0, s(12), [], [probe], 1.0, s(2.5))

    run = ItemRun("x", np.zeros(s(12), np.float32), np.ones(s(12), np.float32), onset=s(3.0), fired_at=s(5.0))
    monkeypatch.setattr(T, "speech_segments", lambda audio: spans((3.0, 5.4)))  # stops 0.4 s after the probe
    assert score_run(spec("interruption"), 1.0, run, CFG)["outcome"] == "caught"
    assert score_run(spec("user_backchannel"), 1.0, run, CFG)["outcome"] == "false_alarm"
    monkeypatch.setattr(T, "speech_segments", lambda audio: spans((3.0, 11.9)))
    assert score_run(spec("interruption"), 1.0, run, CFG)["outcome"] == "missed"
    assert score_run(spec("noise_burst"), 1.0, run, CFG)["outcome"] == "continued"
    unfired = ItemRun("x", np.zeros(s(12), np.float32), np.zeros(s(12), np.float32))
    assert score_run(spec("interruption"), 1.0, unfired, CFG)["outcome"] == "unfired"


def test_barge_in_aggregate_counts_shared_negatives():
    def rec(outcome, positive, context=None, probe="interruption", lat=None):
        return {"family": "reactive", "echo_factor": 1.0, "failure": None, "outcome": outcome, "positive": positive,
                "context": context, "probe": probe if positive else "user_backchannel", "stop_latency_s": lat}

    records = [rec("caught", True, "independent", lat=0.3), rec("missed", True, "dependent"),
               rec("caught", True, "dependent", lat=0.5), rec("false_alarm", False), rec("continued", False),
               rec("unfired", True, "independent")]
    agg = aggregate_task(TASKS["barge_in"], records, CFG)
    assert (agg["tp"], agg["fp"], agg["fn"]) == (2, 1, 1)
    assert agg["precision"] == pytest.approx(2 / 3) and agg["recall"] == pytest.approx(2 / 3)
    assert agg["independent"]["recall"] == 1.0 and agg["dependent"]["recall"] == 0.5
    assert agg["stop_latency_s"] == pytest.approx(0.4) and agg["n_unfired"] == 1
    assert agg["false_alarm_rate"]["user_backchannel"] == 0.5
    assert agg["false_alarms"] == {"user_backchannel": {"stopped": 1, "n": 2}}  # kinds with no scored probe left out
    assert agg["n_positive_dialogues"] == 1 and agg["f1_ci95"] is None  # every record is one dialogue's
    for i, r in enumerate(records):
        r["dialogue"] = f"d{i}"
    agg = aggregate_task(TASKS["barge_in"], records, CFG)
    assert agg["n_positive_dialogues"] == 4 and agg["f1_ci95"][0] <= agg["f1"] <= agg["f1_ci95"][1]
    only_dependent = [r for r in records if r.get("context") != "independent"]
    assert aggregate_task(TASKS["barge_in"], only_dependent, CFG)["independent"]["f1"] is None


def test_plan_runs_shares_items_between_tasks():
    runs = plan_runs([answer_spec()], [TASKS["turn_taking"], TASKS["echo"], TASKS["qa"]])
    assert [f for _, f in runs] == [0.0, 1.0]  # one run per echo factor, shared by the three tasks
    assert plan_runs([answer_spec(answers=())], [TASKS["qa"]]) == []


def test_backchannel_jsd_uses_the_run_latency_bins():
    """--metric latency_bins_s=... reaches the aggregate (it used to fall back to the default bins)."""
    rec = {"id": "d/long0@ef1", "family": "long_turn", "echo_factor": 1.0, "user_speech_s": 30.0,
           "bc_latency_s": [0.05, 0.07], "reference_bc_latency_s": [0.15, 0.17], "backchannels": 2,
           "reference_backchannels": 2, "early_takeover": 0}
    default = aggregate_task(TASKS["backchannel"], [rec], CFG)["jsd"]
    coarse = aggregate_task(TASKS["backchannel"], [rec], M.MetricConfig.from_dict({"latency_bins_s": [0.0, 1.0]}))
    assert default == pytest.approx(1.0) and coarse["jsd"] == pytest.approx(0.0)
