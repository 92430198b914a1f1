"""``duplexkit bench run`` end to end on a small corpus: the baselines bound the metrics as defined, results.json
keeps its shape, reports are written, runs resume, and bad inputs give one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import duplexkit_cli
from benchmark.protocol import ModelInfo, StepOutput
from benchmark.models import register
from benchmark.metrics import MetricConfig
from benchmark.runner import BenchError, RunConfig, run_bench

TASK_NAMES = ("turn_taking", "pause_handling", "backchannel", "barge_in", "echo", "qa")


def bench(corpus: Path, out: Path, model: str, **kw) -> dict:
    cfg = RunConfig(model=model, data=str(corpus), out=str(out), max_items=kw.pop("max_items", 2),
                    asr=kw.pop("asr", None), progress=False, save_audio=kw.pop("save_audio", 1), **kw)
    return run_bench(cfg)


@pytest.fixture(scope="module")
def oracle(bench_corpus, tmp_path_factory):
    return bench(bench_corpus, tmp_path_factory.mktemp("oracle"), "oracle")


def test_oracle_scores_ideal_on_every_task(oracle):
    a = oracle["aggregates"]
    assert set(a) == set(TASK_NAMES)
    assert a["turn_taking"]["takeover_rate"] == 1.0 and a["turn_taking"]["early_takeover_rate"] == 0.0
    assert 0.1 < a["turn_taking"]["latency_s"] < 1.3  # the corpus's human-like gaps (+ one protocol block)
    assert a["pause_handling"]["takeover_rate"] == 0.0 and a["pause_handling"]["n"] >= 1
    assert a["backchannel"]["continue_rate"] == 1.0
    assert a["backchannel"]["frequency_ratio"] == pytest.approx(1.0) and a["backchannel"]["jsd"] == pytest.approx(0.0)
    b = a["barge_in"]
    assert b["precision"] == b["recall"] == b["f1"] == 1.0 and b["n_positive"] >= 2 and b["n_negative"] >= 2
    assert b["independent"]["recall"] == 1.0 and b["dependent"]["recall"] == 1.0
    assert set(b["by_echo_factor"]) == {"0", "0.1", "1"}
    assert all(v["f1"] == 1.0 for v in b["by_echo_factor"].values())
    assert a["echo"]["self_interruption_rate"] == 0.0
    assert a["qa"]["s2t_accuracy"] == 1.0
    assert oracle["failures"]["count"] == 0


def test_results_shape(oracle, bench_corpus):
    for key in ("results_version", "model", "corpus", "tasks", "versions", "seeds", "packages", "git_revision",
                "aggregates", "rtf", "items", "failures", "config"):
        assert key in oracle
    assert isinstance(oracle["rtf"], float) and oracle["rtf"] >= 0
    assert oracle["aggregates"]["turn_taking"]["takeover_rate_ci95"] is not None
    item = oracle["items"][0]
    assert {"id", "item", "dialogue", "family", "echo_factor", "model_speech_s"} <= set(item)
    json.dumps(oracle)  # plain JSON


def test_silent_never_takes_over_and_fires_nothing(bench_corpus, tmp_path):
    r = bench(bench_corpus, tmp_path, "silent", tasks=["turn_taking", "pause_handling", "barge_in"])
    a = r["aggregates"]
    assert a["turn_taking"]["takeover_rate"] == 0.0 and a["turn_taking"]["latency_s"] is None
    assert a["pause_handling"]["takeover_rate"] == 0.0
    b = a["barge_in"]
    assert b["n_unfired"] == b["n_positive"] + b["n_negative"] > 0 and b["f1"] == 0.0 and b["tp"] + b["fp"] == 0


def test_always_talk_barge_in_as_defined(bench_corpus, tmp_path):
    r = bench(bench_corpus, tmp_path, "always_talk", tasks=["turn_taking", "pause_handling", "barge_in"])
    a = r["aggregates"]
    b = a["barge_in"]
    # it never stops: every interruption is missed, no negative is a false alarm, nothing is predicted
    assert b["recall"] == 0.0 and b["fp"] == 0 and b["tp"] == 0 and b["fn"] == b["n_positive"] > 0
    assert b["precision"] == 0.0 and b["f1"] == 0.0
    # it talks through every question's end, which is no take-over (turn_taking 1.1), and through every pause
    assert a["turn_taking"]["takeover_rate"] == 0.0 and a["pause_handling"]["takeover_rate"] == 1.0
    # talking through the question is early wherever the question leaves room for a burst longer than a backchannel
    cfg = MetricConfig()
    for it in r["items"]:
        if it["family"] == "answer":
            start = next(s for name, s, _ in it["cues_s"] if name == "user_turn")
            room = it["question_end_s"] - cfg.early_tolerance_s - start
            assert it["early_takeover"] == int(room >= cfg.backchannel_max_s), it["id"]


def test_reports_and_resume(bench_corpus, tmp_path, monkeypatch):
    first = bench(bench_corpus, tmp_path, "oracle", tasks=["turn_taking", "barge_in"], max_items=1)
    assert (tmp_path / "report.md").read_text().startswith("# duplexkit bench report")
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64" in page and "barge-in" in page
    # one timeline per family the run holds, named by family
    drawn = {p.name.split("-")[1] for p in (tmp_path / "plots").glob("timeline-*.png")}
    assert drawn == {it["family"] for it in first["items"]}
    # a second run finds every item cached: the model is never stepped again, and the records are identical
    import benchmark.runner as R

    monkeypatch.setattr(R, "run_dialogue", lambda *a, **k: pytest.fail("a cached item was run again"))
    again = bench(bench_corpus, tmp_path, "oracle", tasks=["turn_taking", "barge_in"], max_items=1)
    assert again["items"] == first["items"] and again["aggregates"] == first["aggregates"]
    with pytest.raises(BenchError, match="different model"):
        bench(bench_corpus, tmp_path, "silent", tasks=["turn_taking", "barge_in"], max_items=1)


class Crashy:
    """Raises on its 5th step of every second session: those items fail, the others are scored."""

    info = ModelInfo("crashy")

    def __init__(self, **_):
        self.sessions = 0

    def open_session(self, info):
        self.sessions += 1
        self.k = 0
        return self

    def step(self, mic):
        self.k += 1
        if self.sessions % 2 == 0 and self.k == 5:
            raise ValueError("boom")
        import numpy as np

        return StepOutput(np.zeros(1280, np.float32))

    def close(self):
        pass


def test_failing_items_are_counted_and_the_run_goes_on(bench_corpus, tmp_path):
    register("crashy", Crashy)
    r = bench(bench_corpus, tmp_path, "crashy", tasks=["turn_taking"])
    n = r["aggregates"]["turn_taking"]["n_items"]
    assert r["failures"]["count"] == r["aggregates"]["turn_taking"]["n_failed"] >= 1
    assert r["aggregates"]["turn_taking"]["n"] == n - r["failures"]["count"] >= 1
    assert "step 4 raised ValueError: boom" in r["failures"]["items"][0]["reason"]


@pytest.mark.slow  # two oracle runs: ~15 s
def test_isolated_and_in_process_runs_give_the_same_records(bench_corpus, tmp_path):
    kw = dict(tasks=["turn_taking", "barge_in"], max_items=1)
    here = bench(bench_corpus, tmp_path / "here", "oracle", isolate=False, **kw)
    there = bench(bench_corpus, tmp_path / "there", "oracle", isolate=True, **kw)
    assert here["items"] == there["items"] and here["aggregates"] == there["aggregates"]


def test_cli_run_compare_and_errors(bench_corpus, tmp_path, capsys):
    out = tmp_path / "run"
    rc = duplexkit_cli.main(["bench", "run", "--model", "silent", "--data", str(bench_corpus), "--out", str(out),
                             "--tasks", "turn_taking", "--max-items", "1", "--asr", "none", "--no-progress"])
    assert rc == 0 and "take-over rate" in capsys.readouterr().out
    assert duplexkit_cli.main(["bench", "compare", str(out), str(out / "results.json")]) == 0
    assert "silent" in capsys.readouterr().out
    r = json.loads((out / "results.json").read_text())
    r["aggregates"] = {}  # as if made by code that aggregated differently: rescoring rebuilds them from the items
    (out / "results.json").write_text(json.dumps(r))
    assert duplexkit_cli.main(["bench", "rescore", str(out)]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["items"] == r["items"] and again["aggregates"]["turn_taking"]["n"] == 1
    assert again["aggregates"]["turn_taking"]["n_dialogues"] == 1
    r["versions"]["metrics"] = "1.0"  # the stop window counted from the onset then: its items would score differently
    (out / "results.json").write_text(json.dumps(r))
    for argv, needle in [
        (["bench", "rescore", str(out)], "whose items this code would score differently"),
        (["bench", "run", "--model", "nope", "--data", str(bench_corpus), "--out", str(tmp_path / "x")], "unknown model 'nope'"),
        (["bench", "run", "--model", "silent", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "y")], "manifest.jsonl: missing"),
        (["bench", "run", "--model", "silent", "--data", str(bench_corpus), "--out", str(tmp_path / "z"), "--tasks", "turntaking"], "unknown task 'turntaking'"),
        (["bench", "run", "--model", "silent", "--data", str(bench_corpus), "--out", str(tmp_path / "w"), "--metric", "stop_window=2"], "unknown key 'stop_window'"),
        (["bench", "compare", str(tmp_path / "nothing")], "not a readable results.json"),
    ]:
        assert duplexkit_cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err


@pytest.mark.slow
def test_same_records_whatever_the_workers(bench_corpus, tmp_path):
    one = bench(bench_corpus, tmp_path / "w1", "oracle", tasks=["turn_taking", "barge_in"], max_items=1, workers=1)
    two = bench(bench_corpus, tmp_path / "w2", "oracle", tasks=["turn_taking", "barge_in"], max_items=1, workers=2)
    assert one["items"] == two["items"] and one["aggregates"] == two["aggregates"]


@pytest.mark.slow
def test_ray_engine_gives_the_same_records(bench_corpus, tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'duplexkit[ray]')")
    local = bench(bench_corpus, tmp_path / "local", "oracle", tasks=["turn_taking"], max_items=1)
    ray_ = bench(bench_corpus, tmp_path / "ray", "oracle", tasks=["turn_taking"], max_items=1, engine="ray", workers=2)
    assert local["items"] == ray_["items"]
    # each Ray worker then owns an isolated model process (spawned from the worker, killed with it)
    iso = bench(bench_corpus, tmp_path / "ray-iso", "oracle", tasks=["turn_taking"], max_items=1, engine="ray",
                workers=2, isolate=True)
    assert local["items"] == iso["items"]


def test_external_outputs_scored_open_loop(bench_corpus, tmp_path, capsys):
    """bench items -> an 'external model' writes output.wav beside each input.wav -> files model, open loop."""
    import numpy as np
    import soundfile as sf

    root = tmp_path / "items"
    assert duplexkit_cli.main(["bench", "items", "--data", str(bench_corpus), "--out", str(root),
                               "--tasks", "turn_taking", "--max-items", "2"]) == 0
    inputs = sorted(root.rglob("input.wav"))
    assert len(inputs) >= 2
    for i, path in enumerate(inputs):
        audio, sr = sf.read(path)
        assert sr == 16000 and np.abs(audio).max() > 0.01  # the user's question is in it
        if i > 0:  # the first item gets no output: it must fail with a line naming the file
            sf.write(path.parent / "output.wav", np.zeros_like(audio), 16000)
    r = bench(bench_corpus, tmp_path / "run", "files", tasks=["turn_taking"], model_options={"root": str(root)},
              open_loop=True)
    assert r["failures"]["count"] == 1 and "output.wav: missing" in r["failures"]["items"][0]["reason"]
    assert r["aggregates"]["turn_taking"]["takeover_rate"] == 0.0


def test_salmonn_omni_checkpoint_is_scored_like_any_model(bench_corpus, tmp_path, capsys):
    """duplexkit model init -> duplexkit bench run --model salmonn-omni --checkpoint DIR (an untrained tiny model)."""
    ckpt = tmp_path / "tiny"
    assert duplexkit_cli.main(["model", "init", "--config", "tiny", "--out", str(ckpt)]) == 0
    out = tmp_path / "run"
    assert duplexkit_cli.main(["bench", "run", "--model", "salmonn-omni", "--checkpoint", str(ckpt), "--data",
                               str(bench_corpus), "--out", str(out), "--tasks", "turn_taking", "barge_in",
                               "--max-items", "1", "--asr", "none", "--no-progress", "--model-arg", "threads=1",
                               # one echo factor each: the sweep is the harness's business, tested with the baselines
                               "--echo-factors", "turn_taking=[1]", "--echo-factors", "barge_in=[1]"]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["failures"]["count"] == 0 and r["model"]["text"] and r["model"]["state"]
    assert r["aggregates"]["turn_taking"]["n"] >= 1 and r["rtf"] > 0


def test_vad_cascade_runs_closed_loop(bench_corpus, tmp_path):
    """The real half-duplex pipeline in the harness (bank lookup instead of SmolLM2, to stay fast): it answers."""
    r = bench(bench_corpus, tmp_path, "vad_cascade", tasks=["turn_taking"], max_items=2,
              model_options={"llm": "echo"})
    assert r["failures"]["count"] == 0
    assert any(item["model_speech_s"] for item in r["items"])  # it heard the question and spoke
    assert r["rtf"] > 0


def test_cached_items_of_another_run_are_never_reused(bench_corpus, tmp_path):
    """Without run.json, a cached item still names the run it came from: silent does not inherit oracle's runs."""
    out = tmp_path / "shared"
    oracle = bench(bench_corpus, out, "oracle", tasks=["turn_taking"], max_items=1)
    assert oracle["aggregates"]["turn_taking"]["takeover_rate"] == 1.0
    (out / "run.json").unlink()
    (out / "results.json").unlink()
    silent = bench(bench_corpus, out, "silent", tasks=["turn_taking"], max_items=1)
    assert silent["aggregates"]["turn_taking"]["takeover_rate"] == 0.0
    cached = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    again = bench(bench_corpus, out, "silent", tasks=["turn_taking"], max_items=1)  # its own cache is reused
    assert again["items"] == silent["items"]
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")} == cached


MAIN_SCRIPT = """
import sys

import numpy as np

from benchmark.protocol import ModelInfo, StepOutput


class Quiet:
    info = ModelInfo("quiet")

    def open_session(self, info):
        return self

    def step(self, mic):
        return StepOutput(np.zeros(1280, np.float32))

    def close(self):
        pass


if __name__ == "__main__":
    import duplexkit_cli
    from benchmark.models import register

    register("quiet", Quiet)
    sys.exit(duplexkit_cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_model_registered_in_main_runs_on_spawned_workers(bench_corpus, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "my_bench.py"
    script.write_text(MAIN_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script), "bench", "run", "--model", "quiet", "--data", str(bench_corpus),
                           "--out", str(tmp_path / "run"), "--tasks", "turn_taking", "--max-items", "1", "--workers",
                           "2", "--asr", "none", "--no-progress"], cwd=root, capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "results.json").read_text())["failures"]["count"] == 0


def test_timelines_show_each_family_and_prefer_what_went_wrong():
    from benchmark.report import timeline_items

    def rec(i, family, dialogue, factor=1.0, **kw):
        return {"id": f"{dialogue}/{family}{i}@ef{factor:g}", "family": family, "dialogue": dialogue,
                "echo_factor": factor, **kw}

    items = [rec(0, "answer", "a", takeover=1), rec(1, "answer", "a", takeover=0),
             rec(0, "reactive", "a", outcome="caught"), rec(0, "reactive", "b", 0.0, outcome="missed"),
             rec(1, "reactive", "c", outcome="missed"), rec(0, "pause", "d", failure="timeout")]
    ids = [r["id"] for r in timeline_items(items, 4)]
    # first a wrong one per family (echo factor 1 first), then wrong ones from new dialogues; a failed run is not drawn
    assert ids == ["a/answer1@ef1", "c/reactive1@ef1", "b/reactive0@ef0", "a/answer0@ef1"]
