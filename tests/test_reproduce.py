"""The learning demonstration (issue 14): checkpoint selection on validation, the results page written from
results files, the step list of ``duplexkit reproduce``, and (slow) the smoke-size pipeline end to end."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from datagen.config import DEFAULT_MIX
from benchmark.results_doc import (failures, headline_table, metric, stops_table, subset_table, targets_table,
                                   write_results_doc)
from recipes.reproduce import BASELINES, DPO_KINDS, SIZES, Pipeline, ReproduceError, select_checkpoint, val_score


def _results(takeover: float, f1: float, items=()) -> dict:
    ef = {"0": {"takeover_rate": takeover, "takeover_rate_ci95": [takeover, takeover], "n": 4},
          "1": {"takeover_rate": takeover / 2, "takeover_rate_ci95": [0.0, takeover], "n": 4}}
    bi = {f: {"f1": f1, "precision": f1, "recall": f1, "n_positive": 3, "f1_ci95": [0.0, 1.0],
              "independent": {"f1": f1, "precision": f1, "recall": f1, "tp": 1, "fn": 1},
              "dependent": {"f1": None, "precision": None, "recall": None, "tp": 0, "fn": 0}} for f in ("0", "1")}
    return {"aggregates": {"turn_taking": {"by_echo_factor": ef, "takeover_rate": takeover},
                           "barge_in": {"by_echo_factor": bi, "f1": f1}}, "items": list(items)}


def test_metric_reads_the_echo_factor_section_with_its_interval_and_n():
    r = _results(0.8, 0.5)
    assert metric(r, "turn_taking", "takeover_rate", "1") == (0.4, [0.0, 0.8], 4)
    assert metric(r, "barge_in", "independent.f1", "1") == (0.5, None, 2)
    assert metric(r, "pause_handling", "takeover_rate", None) == (None, None, None)
    table = headline_table({"a": r, "b": _results(1.0, 1.0)})
    assert "| a | 0.800 [0.80, 0.80] (n=4) | 0.400 [0.00, 0.80] (n=4)" in table and "| b |" in table
    r["aggregates"]["turn_taking"]["by_echo_factor"]["1"]["n_dialogues"] = 2  # metrics 1.2 results say where n is from
    assert "| 0.400 [0.00, 0.80] (n=4, 2 dlg) |" in headline_table({"a": r})


def test_subsets_targets_and_failures_come_from_the_files():
    before, after = _results(0.5, 0.25), _results(1.0, 0.75)
    sub = subset_table(before, after)
    assert "| all | 0.250 | 0.750 |" in sub and "+0.500" in sub
    assert "| context-dependent | n/a | n/a |" in sub
    tgt = targets_table(after)
    assert "turn-taking take-over rate >= 0.95 | 0.500 [0.00, 1.00] (n=4) | **no**" in tgt
    assert "QA S2T" not in tgt
    qa = lambda acc: {"aggregates": {"qa": {"by_echo_factor": {"1": {"s2t_accuracy": acc, "n": 20}}}}}  # noqa: E731
    assert "| QA S2T above cascade on the same items (0.050) | 0.100 (n=20) | yes |" in targets_table(
        qa(0.1), ("cascade", qa(0.05)))
    assert targets_table(qa(0.05), ("cascade", qa(0.05))).endswith("| **no** |")  # equal is not above
    def react(dialogue, factor, outcome):
        return {"id": f"{dialogue}/react0@ef{factor:g}", "dialogue": dialogue, "family": "reactive",
                "echo_factor": factor, "outcome": outcome, "probe": "interruption", "context": "dependent",
                "speaker": "user"}

    items = [react("d1", 0.0, "missed"), react("d1", 1.0, "missed"), react("d2", 1.0, "missed"),
             react("d3", 1.0, "caught"),
             {"id": "d1/answer0@ef1", "dialogue": "d1", "family": "answer", "echo_factor": 1.0, "takeover": 1,
              "self_interrupt": 0},
             {"id": "d2/pause0@ef1", "dialogue": "d2", "family": "pause", "echo_factor": 1.0, "takeover": 1,
              "pause_takeover": 0},  # took the turn after the pause: not a pause take-over
             {"id": "d3/pause0@ef1", "dialogue": "d3", "family": "pause", "echo_factor": 1.0, "takeover": 1,
              "pause_takeover": 1}]
    assert failures({"items": items})[2:] == [
        "| barge_in | missed an interruption (dependent, by the user) | 3 | 2 | 0, 1 | `d1/react0@ef1`, `d2/react0@ef1` |",
        "| pause_handling | took the turn in a pause | 1 | 1 | 1 | `d3/pause0@ef1` |"]
    assert failures({"items": items[3:5]}) == ["Nothing: every scored item went right."]


def test_the_stops_table_says_what_each_model_stopped_for():
    def run(tp, fn, alarms, rates=None):
        sec = {"n_scored": 9, "independent": {"tp": tp, "fn": fn}, "dependent": {"tp": 0, "fn": 0},
               "false_alarms": alarms, "false_alarm_rate": rates or {}}
        return {"aggregates": {"barge_in": {"by_echo_factor": {"1": sec}}}}

    runs = {"hears all": run(3, 1, {"user_backchannel": {"stopped": 2, "n": 4}}),
            "old file": run(1, 3, {}, {"user_backchannel": 0.25, "noise_burst": None}),
            "silent": {"aggregates": {"barge_in": {"by_echo_factor": {"1": {"n_scored": 0}}}}}}
    lines = stops_table(runs).splitlines()
    assert lines[0] == "| model | interruption, independent | interruption, dependent | user backchannel |"
    assert lines[2:] == ["| hears all | 0.75 (3/4) | n/a | 0.50 (2/4) |", "| old file | 0.25 (1/4) | n/a | 0.25 |"]


def test_a_model_that_never_takes_the_turn_does_not_meet_the_pause_target():
    """Pause take-over 0 from a model that takes no turn at all is vacuous, not a met target."""
    def run(takeover):
        return {"aggregates": {"turn_taking": {"by_echo_factor": {"1": {"takeover_rate": takeover, "n": 20}}},
                               "pause_handling": {"takeover_rate": 0.0, "n": 6}}}

    pause = lambda res: next(l for l in targets_table(res).splitlines() if l.startswith("| pause"))  # noqa: E731
    assert pause(run(0.0)).endswith("| **no** (vacuous: it takes no turn at all) |")
    assert pause(run(0.5)).endswith("| yes |")


def test_the_page_is_written_from_results_and_copies_training_plots(tmp_path):
    for name, r in (("sft", _results(0.5, 0.25)), ("dpo", _results(1.0, 0.75))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(r))
    run = tmp_path / "s2"
    run.mkdir()
    (run / "loss.png").write_bytes(b"\x89PNG fake")
    page = write_results_doc(tmp_path / "results.md", {"SFT": tmp_path / "sft" / "results.json",
                                                         "DPO": tmp_path / "dpo" / "results.json"},
                             {"size": "test"}, {"stage2": run}, sft="SFT", dpo="DPO")
    text = page.read_text()
    assert "do not edit by hand" in text and "## SFT -> DPO per barge-in subset" in text and "## Targets (DPO)" in text
    assert "## What each model stops for (echo factor 1)" in text
    assert (tmp_path / "results" / "stage2-loss.png").read_bytes() == b"\x89PNG fake"


def test_a_stopped_run_gets_a_page_of_what_it_finished_saying_so(tmp_path, monkeypatch, capsys):
    import recipes.reproduce as reproduce
    from duplexkit_cli import program

    assert program(["reproduce", "--size", "smoke", "--out", str(tmp_path), "--page"]) != 0
    assert "no trained stage 2 yet" in capsys.readouterr().err  # one line, nothing written
    assert not (tmp_path / "results.md").exists()
    monkeypatch.setattr(reproduce, "mel_synth_check", lambda *a, **k: {"speech_fraction": 0.5})
    for name, minutes in SIZES["smoke"].minutes.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "stats.json").write_text(json.dumps(
            {"run": {"seed": 1}, "split": "train", "num_dialogues": 2, "total_seconds": 60 * minutes}))
        (tmp_path / name / "manifest.jsonl").write_text(f'{{"id": "{name}"}}\n')
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "s2-selection.json").write_text(json.dumps(
        {"selected": str(tmp_path / "runs" / "s2" / "checkpoints" / "step-000600"), "step": 600}))
    for name, r in (("sft", _results(0.5, 0.25)), ("silent", _results(0.0, 0.0))):  # stopped after bench-sft
        (tmp_path / "bench" / name).mkdir(parents=True)
        (tmp_path / "bench" / name / "results.json").write_text(json.dumps(r))
    for step in ("corpus-test", "bench-silent", "train-2", "bench-sft"):
        Pipeline("smoke", tmp_path).mark_done(step, {})
    assert program(["reproduce", "--size", "smoke", "--out", str(tmp_path), "--page",
                    "--doc", str(tmp_path / "doc" / "results.md")]) == 0
    text = (tmp_path / "doc" / "results.md").read_text()
    assert text.index("**PARTIAL RUN") < text.index("## Every model")  # said before any number
    assert "- finished steps: bench-sft; bench-silent; corpus-test; train-2" in text
    assert "| silent |" in text and "| salmonn-omni SFT (stage 2) |" in text
    assert "## Targets (salmonn-omni SFT (stage 2))" in text  # the argmax row stands in for the val-tuned one
    assert "DPO" not in text.split("## Notes")[0]
    from datagen.corpus import corpus_id

    corpora = text.split("### corpora")[1]
    assert next(ln for ln in corpora.splitlines() if ln.startswith("| test |")).endswith(
        f"| {corpus_id(tmp_path / 'test')} |")  # each corpus's manifest hash, in the corpora table
    assert "selected runs/s2/checkpoints/step-000600" in text and str(tmp_path) not in text.split("## Notes")[1]


@pytest.mark.parametrize("dpo_score, held", [(0.70, "SFT"), (0.90, "DPO")])
def test_the_targets_are_held_to_the_model_val_scores_higher(tmp_path, dpo_score, held):
    """DPO is a candidate, not a given: when its best val_score is below SFT's the page holds SFT to the targets."""
    (tmp_path / "runs").mkdir()
    for tag, score in (("sft", 0.80), ("dpo", dpo_score)):
        (tmp_path / "runs" / f"offsets-{tag}.json").write_text(json.dumps(
            {"chosen": {"start_bias": 0.0, "stop_bias": -1.0, "val_score": score}}))
    final, why = Pipeline("smoke", tmp_path).final_model()
    assert final == f"salmonn-omni {held}, val-tuned offsets" and f"held to the {held} model" in why
    for name, r in (("sft", _results(0.5, 0.25)), ("dpo", _results(1.0, 0.75))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(r))
    runs = {f"salmonn-omni {t}, val-tuned offsets": tmp_path / t.lower() / "results.json" for t in ("SFT", "DPO")}
    text = write_results_doc(tmp_path / "results.md", runs, {}, sft=list(runs)[0], dpo=list(runs)[1], final=final,
                             final_why=why).read_text()
    assert f"## Targets ({final})\n\n{why}" in text


def test_paths_are_shown_inside_the_run_folder_only(tmp_path):
    """A sibling folder whose name starts with the run's (tiny1 / tiny16) is not inside it."""
    run = Pipeline("smoke", tmp_path / "tiny1")
    assert run.rel(tmp_path / "tiny1" / "runs" / "s2") == "runs/s2"
    assert run.rel(tmp_path / "tiny16" / "runs") == str(tmp_path / "tiny16" / "runs")


def test_checkpoint_selection_uses_the_validation_loss(tmp_path):
    run = tmp_path / "s2"
    for step in (20, 40, 60):
        ck = run / "checkpoints" / f"step-{step:06d}"
        ck.mkdir(parents=True)
        for name in ("trainer.pt", "model.safetensors"):  # what makes a checkpoint complete
            (ck / name).write_bytes(b"x")
    log = [{"step": 20, "eval": {"token_loss": 3.0}}, {"step": 40, "eval": {"token_loss": 2.0}},
           {"step": 50, "loss": 1.0}, {"step": 60, "eval": {"token_loss": 2.5}}]
    (run / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    path, why = select_checkpoint(run)
    assert path.name == "step-000040" and why["val_token_loss"] == 2.0 and set(why["candidates"]) == {"20", "40", "60"}


def test_the_pipeline_runs_its_steps_in_order_and_skips_finished_ones(tmp_path, monkeypatch):
    import recipes.reproduce as reproduce

    # grids with two starts, so the search's second pass runs at a start it chose (the defaults hold one start)
    monkeypatch.setattr(reproduce, "START_GRID", (0.0, 1.0))
    monkeypatch.setattr(reproduce, "STOP_GRID", (-2.0, -1.0, 0.0, 1.0))
    calls: list[list[str]] = []

    def fake(argv):
        calls.append(argv)
        if "val-offsets" in " ".join(argv):  # the offset search reads what its val runs wrote
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            start, stop = (float(x) for x in out.name.replace("start", "").split("-stop"))
            # a val landscape whose best point is (1, -2): take the turn sooner, yield it later
            take, selfint = min(1.0, 0.4 + 0.4 * start) - 0.3 * max(0.0, start - 1), 0.5 + 0.2 * stop
            at = lambda sec: {"by_echo_factor": {"1": sec}}  # noqa: E731
            (out / "results.json").write_text(json.dumps({"aggregates": {
                "turn_taking": at({"takeover_rate": take}), "echo": at({"self_interruption_rate": selfint})}}))
        return 0 if argv[0] != "pairs" else 3

    pipe = Pipeline("smoke", tmp_path, runner=fake)
    with pytest.raises(ReproduceError, match="step 'pairs' failed .exit 3.; rerun it by hand with: duplexkit pairs"):
        pipe.run()
    # the baselines come right after the corpora (a run stopped by its budget still has them): the classifier
    # learns from train and val, and every baseline is scored on test
    baselines, calls[4:10] = calls[4:10], []
    assert [c[:2] for c in baselines] == [["bench", "train-classifier"]] + [["bench", "run"]] * 5
    assert str(tmp_path / "test") not in " ".join(baselines[0])
    assert [c[c.index("--model") + 1] for c in baselines[1:]] == list(BASELINES)
    assert all(c[c.index("--data") + 1] == str(tmp_path / "test") for c in baselines[1:])
    names = [c[0] + (f" {c[1]}" if c[0] in ("train", "bench") else "") for c in calls]
    assert names == ["generate"] * 4 + ["train 1", "train 2"] + ["bench run"] * 8 + ["pairs"]
    # the <shift> offsets are searched on val, never on test (start first, then stop at the best start; the
    # point both passes share runs once), and the chosen ones scored on test
    sweep = calls[7:12]
    assert all(c[c.index("--data") + 1] == str(tmp_path / "val") for c in sweep)
    assert [Path(c[c.index("--out") + 1]).name for c in sweep] == [
        "start0-stop0", "start1-stop0", "start1-stop-2", "start1-stop-1", "start1-stop1"]
    assert all("--echo-factors" in c and "qa" not in c for c in sweep)  # only what the objective reads
    tuned = calls[12]
    assert tuned[tuned.index("--data") + 1] == str(tmp_path / "test")
    assert "overrides=[decision.start_bias=1,decision.stop_bias=-2]" in tuned
    assert "overrides" not in " ".join(calls[6])  # the trained argmax, scored as it is
    chosen = json.loads((tmp_path / "runs" / "offsets-sft.json").read_text())["chosen"]
    assert (chosen["start_bias"], chosen["stop_bias"]) == (1.0, -2.0)
    test_corpus = calls[3]
    assert test_corpus[test_corpus.index("--split") + 1] == "test"
    splits = {c[c.index("--out") + 1]: c[c.index("--split") + 1] for c in calls[:3]}
    assert splits == {str(tmp_path / "train"): "train", str(tmp_path / "val"): "val",
                      str(tmp_path / "pairs-src"): "train"}  # selection sees lines that train does not
    # val and test weigh barge-ins up, spelling out the whole mix (a mix given in part holds only what it names)
    mixes = [[a for a in c if a.startswith("scenario_mix.")] for c in calls[:4]]
    assert not mixes[0] and not mixes[2] and mixes[1] == mixes[3]
    assert {a.split("=")[0].split(".")[1] for a in mixes[3]} == set(DEFAULT_MIX)
    # the benchmarks that train or select never see the test corpus; the SFT model is scored on it twice
    assert str(tmp_path / "test") not in " ".join(" ".join(c) for c in calls[4:6] + calls[7:12] + calls[13:14])
    calls.clear()
    Pipeline("smoke", tmp_path, runner=lambda argv: calls.append(argv) or 0).stages_1_2(
        "-implicit", ["model_config.thinking=implicit"])  # the ablation arm: the same stages, implicit thinking
    assert all("model_config.thinking=implicit" in c for c in calls) and len(calls) == 2
    calls.clear()
    with pytest.raises(ReproduceError):
        Pipeline("smoke", tmp_path, runner=fake).run()
    assert [c[0] for c in calls] == ["pairs"]  # everything before it was done (the ablation arm's markers too)
    assert set(BASELINES) >= {"silent", "oracle", "turn_classifier", "vad_cascade", "always_talk"}


def _recording_runner(calls: list):
    """Records each call with whether it ran on the main thread, and writes what the val search reads."""
    def fake(argv):
        calls.append((threading.current_thread() is threading.main_thread(), list(argv)))
        if "val-offsets" in " ".join(argv):
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps({"aggregates": {}}))
        return 0
    return fake


def test_with_two_workers_the_implicit_arm_trains_beside_the_main_one_on_one_thread_each(tmp_path):
    """workers >= 2: the ablation's stages 1-2 run on another thread (child processes in the CLI) while the main arm
    trains, both pinned to one thread (so the checkpoints do not depend on --workers); everything after them runs
    in the main order; a failed main arm stops the other arm after its current step."""
    calls: list = []
    pipe = Pipeline("smoke", tmp_path / "a", workers=2, runner=_recording_runner(calls))
    pipe.write_doc = lambda why: tmp_path / "page.md"  # noqa: E731 (the page needs real results files)
    pipe.run()
    train = [(main, c) for main, c in calls if c[0] == "train" and c[1] in ("1", "2")]
    assert len(train) == 4 and all("threads=1" in c for _, c in train)
    assert {main for main, c in train if "model_config.thinking=implicit" in c} == {False}
    assert {main for main, c in train if "model_config.thinking=implicit" not in c} == {True}
    outs = [Path(c[c.index("--out") + 1]).name for main, c in calls if "--out" in c]
    assert outs.index("s2-implicit") < outs.index("sft") and outs[-1] == "implicit"  # joined before the benchmarks
    sequential: list = []
    one = Pipeline("smoke", tmp_path / "b", workers=1, runner=_recording_runner(sequential))
    one.write_doc = lambda why: tmp_path / "page.md"  # noqa: E731
    one.run()

    def commands(cs, root, workers):
        return sorted(" ".join(c).replace(str(root), "").replace(f"--workers {workers}", "") for _, c in cs)

    assert commands(calls, tmp_path / "a", 2) == commands(sequential, tmp_path / "b", 1)  # whatever --workers
    calls.clear()
    pipe = Pipeline("smoke", tmp_path / "c", workers=2, runner=lambda argv: 0)
    started = threading.Event()

    def failing(argv):  # the implicit arm's stage 1 is under way when the main arm's fails
        implicit = "model_config.thinking=implicit" in argv
        calls.append((not implicit, argv))
        if implicit:
            started.set()
            pipe._stop.wait(5)
            return 0
        if argv[:2] == ["train", "1"]:
            started.wait(5)
            return 4
        return 0

    pipe.runner = failing
    with pytest.raises(ReproduceError, match="step 'train-1' failed .exit 4."):
        pipe.run()
    assert [c[1] for main, c in calls if not main] == ["1"]  # the step under way ended; its stage 2 never started


def test_a_test_run_the_val_search_made_redundant_is_copied_not_rerun(tmp_path):
    calls: list[list[str]] = []

    def fake(argv):  # every point scores the same: the search keeps the trained argmax (0, 0)
        calls.append(argv)
        if "--out" in argv:
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps({"aggregates": {}, "out": str(out)}))
        return 0 if argv[0] != "pairs" else 3

    with pytest.raises(ReproduceError):
        Pipeline("smoke", tmp_path, runner=fake).run()
    outs = [c[c.index("--out") + 1] for c in calls if c[:2] == ["bench", "run"]]
    assert str(tmp_path / "bench" / "sft") in outs and str(tmp_path / "bench" / "sft-tuned") not in outs
    copied = json.loads((tmp_path / "bench" / "sft-tuned" / "results.json").read_text())
    assert copied["out"] == str(tmp_path / "bench" / "sft")  # the argmax run's own file
    assert (tmp_path / ".reproduce" / "bench-sft-tuned.done").is_file()


@pytest.mark.parametrize("size", ["smoke", "small"])
def test_exported_checkpoints_say_how_to_score_them_with_the_offsets_chosen_on_val(tmp_path, size):
    pipe = Pipeline(size, tmp_path / "out", checkpoints=str(tmp_path / "ckpt"))
    for name, seed in (("train", 1), ("val", 3)):
        Path(pipe.p(name)).mkdir(parents=True)
        Path(pipe.p(name, "stats.json")).write_text(json.dumps({"run": {"seed": seed}, "split": "train",
                                                               "num_dialogues": 2, "total_seconds": 60.0}))
        Path(pipe.p(name, "manifest.jsonl")).write_text(f'{{"id": "d{seed}"}}\n')
    for origin in ("s2/final", "s3/final"):
        Path(pipe.p("runs", origin)).mkdir(parents=True)
        Path(pipe.p("runs", origin, "config.yaml")).write_text("model: tiny\n")
        Path(pipe.p("runs", origin, "trainer.pt")).write_text("not exported")
    Path(pipe.p("runs", "offsets-dpo.json")).write_text(json.dumps({"chosen": {"start_bias": 1.0, "stop_bias": -2.0}}))
    pipe.export_checkpoints(tmp_path / "ckpt", {"selected": pipe.p("runs", "s2", "final"), "step": 600})
    dpo = json.loads((tmp_path / "ckpt" / "dpo" / "provenance.json").read_text())
    base = "".join(f"{k}," for k in SIZES[size].model_overrides)
    assert dpo["score_tuned_with"] == f"--model-arg overrides=[{base}decision.start_bias=1,decision.stop_bias=-2]"
    assert dpo["checkpoint"] == "runs/s3/final" and "decision_offsets_chosen_on_val" not in json.loads(
        (tmp_path / "ckpt" / "sft" / "provenance.json").read_text())  # no sweep file for sft here
    assert sorted(p.name for p in (tmp_path / "ckpt" / "dpo").iterdir()) == ["config.yaml", "provenance.json"]
    assert dpo["steps"] == SIZES[size].steps and dpo.get("max_minutes") == (SIZES[size].max_minutes or None)
    from datagen.corpus import corpus_id

    assert dpo["corpora"]["val"]["id"] == corpus_id(pipe.p("val")) != corpus_id(pipe.p("train"))
    # nothing names the machine that ran it: the selected checkpoint is `checkpoint`, relative to --out
    sft = json.loads((tmp_path / "ckpt" / "sft" / "provenance.json").read_text())
    assert sft["checkpoint"] == "runs/s2/final" and sft["selection"] == {"step": 600}
    assert str(tmp_path) not in (tmp_path / "ckpt" / "sft" / "provenance.json").read_text()


def _commands_up_to(size: str, out: Path, failing: tuple[str, ...] = ("pairs",)) -> list[list[str]]:
    """The commands a size's pipeline runs up to the first one starting with ``failing`` (which fails, to stop
    there; by default the pair set); val runs score 0."""
    calls: list[list[str]] = []

    def fake(argv):
        calls.append(argv)
        if "val-offsets" in " ".join(argv):
            run = Path(argv[argv.index("--out") + 1])
            run.mkdir(parents=True, exist_ok=True)
            (run / "results.json").write_text(json.dumps({"aggregates": {}}))
        return 3 if tuple(argv[:len(failing)]) == failing else 0

    with pytest.raises(ReproduceError, match=r"step '[\w-]+' failed \(exit 3\)"):
        Pipeline(size, out, runner=fake).run()
    return calls


def test_a_sizes_own_dpo_options_win_over_the_pipelines_defaults(tmp_path):
    """Small turns the periodic val benchmark of stage 3 off (minutes a point on a CPU); tiny keeps one every quarter
    of its steps.  The size's options come after the pipeline's, so theirs win (later overrides win)."""
    for size, every in (("small", 0), ("tiny", 10)):
        train3 = _commands_up_to(size, tmp_path / size, ("train", "3"))[-1]
        assert [a for a in train3 if a.startswith("dpo.bench_every=")][-1] == f"dpo.bench_every={every}"


def test_tiny_weighs_its_interruption_pairs_and_learns_only_speaking_decisions(tmp_path):
    """The tiny recipe's pair set carries its per-kind DPO weights and only the kinds decided while speaking (both
    chosen on val; no turn-taking pairs); smoke's has every kind, unweighted; both keep the run's right outcomes."""
    tiny = ["--weight", "interruption=3", "--kinds", *DPO_KINDS]
    assert "pause" not in DPO_KINDS and "end_of_turn" not in DPO_KINDS and "interruption" in DPO_KINDS
    for size, expected in (("tiny", tiny), ("smoke", [])):
        calls = _commands_up_to(size, tmp_path / size)
        pairs = calls[-1]
        assert pairs[0] == "pairs" and pairs[pairs.index("--no-progress") + 1:] == expected
        assert "--keep" in pairs  # right outcomes too: every size's on-policy pairs are balanced


def test_small_stages_carry_their_time_caps_and_tiny_runs_to_its_steps(tmp_path):
    for size, capped in (("small", True), ("tiny", False)):
        calls: list[list[str]] = []
        Pipeline(size, tmp_path / size, runner=lambda argv: calls.append(argv) or 0).stages_1_2("", [])
        spec = SIZES[size]
        assert len(calls) == 2
        for argv, stage in zip(calls, ("sft", "duplex")):
            assert f"max_steps={spec.steps[stage]}" in argv
            caps = [a for a in argv if a.startswith("max_minutes=")]
            assert caps == ([f"max_minutes={spec.max_minutes[stage]:g}"] if capped else [])
            assert [a for a in argv if a.startswith(("mixed_precision=", "optim.warmup_steps="))] == (
                ["mixed_precision=auto", *(a for a in argv if a.startswith("optim.warmup_steps="))] if capped else [])


def test_small_benchmarks_its_models_in_its_training_precision_in_the_val_sweep_as_on_test(tmp_path):
    """Every benchmark of a trained small model (val sweep points, test, pairs-src) carries the same config
    overrides, in one ``overrides`` option with the offsets (a second option would replace the first), so the offsets
    chosen on val are chosen for the model that is scored; tiny's carry none."""
    for size, base in (("small", "backbone.dtype=auto"), ("tiny", None)):
        calls = _commands_up_to(size, tmp_path / size)
        benches = [a for a in calls if a[:2] == ["bench", "run"] and "salmonn-omni" in a]
        # small searches no offsets (a one-point grid: no val run) and scores barge-ins at echo factor 1 only
        assert {Path(a[a.index("--data") + 1]).name for a in benches} == (
            {"test", "pairs-src"} if size == "small" else {"test", "val", "pairs-src"})
        assert all(("barge_in=1" in a) == (size == "small") for a in benches if "val-offsets" not in " ".join(a))
        for argv in benches:
            opts = [argv[i + 1] for i, a in enumerate(argv)
                    if a == "--model-arg" and argv[i + 1].startswith("overrides=")]
            offsets = "val-offsets" in " ".join(argv) and "start0-stop0" not in " ".join(argv)
            if base is None:
                assert len(opts) == offsets and all(o.startswith("overrides=[decision.") for o in opts)
            else:
                assert len(opts) == 1 and opts[0].startswith(f"overrides=[{base}")
                assert ("decision." in opts[0]) == offsets


def test_the_val_objective_sees_a_late_take_over():
    """Latency counts in full within the 0.6 s target and as target / latency beyond it: two models alike in every
    rate, one of them answering after 1.2 s, are told apart."""
    at = lambda sec: {"by_echo_factor": {"1": sec}}  # noqa: E731

    def run(latency):
        return {"aggregates": {"turn_taking": at({"takeover_rate": 1.0, "latency_s": latency}),
                               "pause_handling": at({"takeover_rate": 0.0}), "backchannel": at({"continue_rate": 1.0}),
                               "barge_in": at({"f1": 1.0}), "echo": at({"self_interruption_rate": 0.0})}}

    assert val_score(run(0.3)) == val_score(run(0.6)) == 1.0
    assert val_score(run(1.2)) == pytest.approx(1 - 0.5 / 6)
    assert val_score(run(None)) == pytest.approx(5 / 6)  # no latency measured: that term is the worst


def test_unknown_size_is_one_line(tmp_path):
    from datagen.common.config import ConfigError

    with pytest.raises(ConfigError, match="--size: unknown size 'huge'"):
        Pipeline("huge", tmp_path)


@pytest.mark.slow
def test_smoke_pipeline_end_to_end_beats_the_untrained_model(tmp_path):
    """Minutes of data and 400 stage-2 steps: the trained model must beat an untrained one on the test split's
    turn-taking and barge-in (it need not meet the targets at this size)."""
    from duplexkit_cli import main

    page = Pipeline("smoke", tmp_path, workers=2).run()  # the README's command: the implicit arm beside the main one
    assert page.is_file() and "salmonn-omni DPO (stage 3)" in page.read_text()
    untrained = tmp_path / "untrained"
    assert main(["model", "init", "--config", "tiny", "--out", str(untrained)]) == 0
    assert main(["bench", "run", "--model", "salmonn-omni", "--checkpoint", str(untrained), "--model-arg",
                 "threads=1", "--data", str(tmp_path / "test"), "--out", str(tmp_path / "bench" / "untrained"),
                 "--asr", "none", "--no-progress", "--max-items", "2"]) in (0, 1)
    base = json.loads((tmp_path / "bench" / "untrained" / "results.json").read_text())
    for run in ("sft", "dpo"):
        res = json.loads((tmp_path / "bench" / run / "results.json").read_text())
        trained = (metric(res, "turn_taking", "takeover_rate", "1")[0] or 0) + (metric(res, "barge_in", "f1", "1")[0] or 0)
        before = (metric(base, "turn_taking", "takeover_rate", "1")[0] or 0) + (metric(base, "barge_in", "f1", "1")[0] or 0)
        assert trained > before, (run, trained, before)
