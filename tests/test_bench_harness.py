"""The closed loop: a model hears its own voice through the scene's echo path at the scene's delay and level;
streaming signal paths equal their offline versions; model faults end an item, not the run."""

from __future__ import annotations

import ctypes
import os
import time

import numpy as np
import pytest
from scipy.signal import lfilter

from benchmark.audio import EchoPath, StreamResampler
from benchmark.harness import run_item
from benchmark.isolation import IsolatedModel
from benchmark.items import build_items, materialize, with_echo_factor
from benchmark.protocol import ModelInfo, StepOutput
from benchmark.models import UnknownModel, load_model
from datagen.acoustics import AcousticsConfig, RIRBank, render_echo
from datagen.corpus import Corpus
from datagen.scene import Nonlinearity

B = 1280


class Recorder:
    """Plays ``signal`` block by block (from ``start_block``) and keeps every mic block it was given."""

    def __init__(self, signal: np.ndarray, rate: int = 16000, start_block: int = 2):
        self.info = ModelInfo("recorder", sample_rate=rate, block_samples=rate * 80 // 1000)
        self.signal, self.start_block, self.heard = signal, start_block, []

    def open_session(self, info):
        self.heard, self.k = [], 0
        return self

    def step(self, mic):
        self.heard.append(np.array(mic))
        n = self.info.block_samples
        k, self.k = self.k, self.k + 1
        seg = self.signal[(k - self.start_block) * n : (k - self.start_block + 1) * n] if k >= self.start_block else []
        out = np.zeros(n, np.float32)
        out[: len(seg)] = seg
        return StepOutput(out)

    def close(self):
        pass


@pytest.fixture(scope="module")
def corpus_item(bench_corpus):
    corpus = Corpus(bench_corpus)
    bank = RIRBank.load_or_build(AcousticsConfig.from_dict(corpus.stats()["config"]["acoustics"]), progress=False)
    spec = next(s for s in build_items(corpus.dialogues, ["answer"]))
    d = corpus.dialogue(spec.dialogue_id)
    return corpus, bank, d, spec


def test_model_hears_its_tone_at_the_scenes_delay_and_level(corpus_item):
    corpus, bank, d, spec = corpus_item
    item = materialize(with_echo_factor(spec, 1.0), d, corpus.audio(d.id), bank)
    item.env[:] = 0.0  # only the model's own voice reaches the mic
    n = item.spec.num_samples
    tone = (0.2 * np.sin(2 * np.pi * 1000 * np.arange(n) / 16000)).astype(np.float32)
    tone[: 16000 // 2] *= np.linspace(0, 1, 8000)  # fade in so the onset is clean
    model = Recorder(tone)
    run = run_item(model, item)
    assert run.failure is None
    heard = np.concatenate(model.heard)
    # what the generator would have rendered for this output through this scene (datagen.acoustics.render_echo)
    expected = render_echo(run.played, d.scene, bank, item.echo_gain)
    assert np.allclose(heard, expected[: len(heard)], atol=1e-5)
    # level: the echo gain is the scene's (echo factor 1: the corpus's own gain), and the tone comes back at it
    assert item.echo_gain == pytest.approx(d.scene.echo.gain)
    assert np.sqrt(np.mean(heard[4 * B :] ** 2)) > 0.2 * item.echo_gain * 0.05
    # delay: a click played at the start of block 3 (step 2's output, played during the next block) peaks at the
    # mic after the scene's recorded delay: system delay + direct path (which holds pyroomacoustics' fixed 40)
    click = np.zeros(n, np.float32)
    click[0] = 0.5
    model = Recorder(click)
    run_item(model, item)
    peak = int(np.argmax(np.abs(np.concatenate(model.heard))))
    assert abs(peak - (3 * B + d.scene.echo.delay_samples)) <= 2
    # echo factor 0: the mic stays silent
    silent = materialize(with_echo_factor(spec, 0.0), d, corpus.audio(d.id), bank)
    silent.env[:] = 0.0
    model0 = Recorder(tone)
    run_item(model0, silent)
    assert not np.concatenate(model0.heard).any()


def test_open_loop_replays_fixed_inputs(corpus_item, bench_corpus):
    """Open loop: the model does not hear itself, and a reactive probe plays at the corpus's time whatever it does."""
    corpus, bank, d, spec = corpus_item
    item = materialize(with_echo_factor(spec, 1.0), d, corpus.audio(d.id), bank)
    item.env[:] = 0.0
    model = Recorder(np.full(item.spec.num_samples, 0.1, np.float32))
    run_item(model, item, open_loop=True)
    assert not np.concatenate(model.heard).any()
    react = next(s for s in build_items(corpus.dialogues, ["reactive"]) if s.reactive_probe.clip is not None)
    rd = corpus.dialogue(react.dialogue_id)
    ritem = materialize(react, rd, corpus.audio(rd.id), bank)
    silent = load_model("silent")
    run = run_item(silent, ritem, open_loop=True)
    assert run.fired_at == react.reference[0][0] - react.start + react.reactive_probe.start
    assert run_item(silent, ritem).fired_at is None  # closed loop: a silent model never gets the probe


def test_echo_path_streaming_equals_offline():
    rng = np.random.default_rng(0)
    rir = rng.standard_normal(3000).astype(np.float32) * np.exp(-np.arange(3000) / 500).astype(np.float32)
    x = rng.standard_normal(20 * B).astype(np.float32) * 0.1
    x[5 * B : 8 * B] = 0  # silent blocks are skipped
    path = EchoPath(rir, delay=333, gain=0.7, nonlinearity=Nonlinearity("tanh", 2.0))
    heard = []
    for k in range(20):
        heard.append(path.take(B))
        path.play(x[k * B : (k + 1) * B])
    heard = np.concatenate(heard)
    y = np.tanh(2.0 * x) / np.tanh(2.0)
    offline = np.convolve(np.concatenate([np.zeros(B + 333), y]), rir)[: len(heard)] * 0.7
    assert np.allclose(heard, offline, atol=1e-5)


@pytest.mark.parametrize("rate_in,rate_out", [(16000, 24000), (24000, 16000), (16000, 8000)])
def test_stream_resampler_equals_one_pass(rate_in, rate_out):
    rng = np.random.default_rng(1)
    block = rate_in * 80 // 1000
    x = rng.standard_normal(10 * block)
    rs = StreamResampler(rate_in, rate_out)
    streamed = np.concatenate([rs(x[i * block : (i + 1) * block]) for i in range(10)])
    assert len(streamed) == 10 * rate_out * 80 // 1000
    ref = StreamResampler(rate_in, rate_out)
    stuffed = np.zeros(len(x) * ref.up)
    stuffed[:: ref.up] = x
    offline = lfilter(ref.h, 1.0, stuffed)[:: ref.down]
    assert np.allclose(streamed, offline, atol=1e-5)


def test_24khz_model_hears_the_same_mic(corpus_item):
    """A Moshi-rate model is fed resampled blocks of 1920 samples and its 1920-sample output comes back at 16 kHz."""
    corpus, bank, d, spec = corpus_item
    item = materialize(with_echo_factor(spec, 0.0), d, corpus.audio(d.id), bank)
    model = Recorder(np.zeros(10), rate=24000)
    run = run_item(model, item)
    assert run.failure is None and all(len(b) == 1920 for b in model.heard)
    heard = np.concatenate(model.heard)
    # the level is preserved (the anti-imaging low-pass keeps everything below 8 kHz)
    assert np.sqrt(np.mean(heard**2)) == pytest.approx(np.sqrt(np.mean(run.heard**2)), rel=0.05)


class Faulty:
    def __init__(self, mode: str, marker: str = ""):
        self.mode, self.marker = mode, marker
        self.info = ModelInfo(f"faulty-{mode}")

    def open_session(self, info):
        self.k = 0
        return self

    def step(self, mic):
        self.k += 1
        if self.k < 3:
            return StepOutput(np.zeros(B, np.float32))
        if self.mode == "raise":
            raise RuntimeError("CUDA out of memory\nsecond line")
        if self.mode == "size":
            return StepOutput(np.zeros(B - 1, np.float32))
        if self.mode == "nan":
            return StepOutput(np.full(B, np.nan, np.float32))
        if self.mode == "hang":
            time.sleep(5)
        if self.mode in ("text", "state"):
            return StepOutput(np.zeros(B, np.float32), **{self.mode: 12345})
        if self.mode == "exit":
            raise SystemExit(3)
        if self.mode == "interrupt":
            raise KeyboardInterrupt
        if self.mode == "die":
            os._exit(7)
        if self.mode == "c_hang" and not os.path.exists(self.marker):  # stuck in C: SIGALRM cannot interrupt it
            open(self.marker, "w").close()  # only the first process hangs: the next one must serve the next item
            ctypes.CDLL(None).sleep(100)
        return StepOutput(np.zeros(B, np.float32))

    def close(self):
        pass


@pytest.mark.parametrize("mode,reason", [
    ("raise", "step 2 raised RuntimeError: CUDA out of memory"),
    ("size", "audio of shape (1279,), expected (1280,)"),
    ("nan", "NaN or infinite"),
    ("hang", "exceeded the 0.3 s per-step limit"),
    ("text", "step 2: step returned text of type int, expected str or None"),
    ("state", "step 2: step returned state of type int, expected str or None"),
    ("exit", "step 2 raised SystemExit: 3"),
])
def test_model_faults_end_the_item_with_a_reason(corpus_item, mode, reason):
    corpus, bank, d, spec = corpus_item
    item = materialize(with_echo_factor(spec, 1.0), d, corpus.audio(d.id), bank)
    t0 = time.perf_counter()
    run = run_item(Faulty(mode), item, step_timeout_s=0.3)
    assert run.failure is not None and reason in run.failure and "\n" not in run.failure
    assert time.perf_counter() - t0 < 3  # a hung step is interrupted, not waited for


def test_a_real_ctrl_c_still_stops_the_run(corpus_item):
    corpus, bank, d, spec = corpus_item
    item = materialize(with_echo_factor(spec, 1.0), d, corpus.audio(d.id), bank)
    with pytest.raises(KeyboardInterrupt):
        run_item(Faulty("interrupt"), item)


@pytest.mark.slow  # five model processes started: ~10 s
def test_isolated_model_is_killed_in_c_code_and_restarted(corpus_item, tmp_path):
    """A step stuck in a C call ignores SIGALRM; the isolated model's process is killed at the limit, the item
    fails with that reason, and the next item gets a fresh process.  A model that exits or dies fails its item."""
    corpus, bank, d, spec = corpus_item
    item = materialize(with_echo_factor(spec, 1.0), d, corpus.audio(d.id), bank)
    model = IsolatedModel("faulty", Faulty, {"mode": "c_hang", "marker": str(tmp_path / "hung")}, timeout_s=1.0)
    try:
        t0 = time.perf_counter()
        run = run_item(model, item, step_timeout_s=1.0)
        assert run.failure == "step 2 exceeded the 1 s per-step limit (model process killed)"
        assert time.perf_counter() - t0 < 10
        assert run_item(model, item, step_timeout_s=1.0).failure is None  # a fresh process, the run goes on
    finally:
        model.close()
    for mode, reason in [("die", "step 2 raised ModelProcessDied: exit code 7"), ("exit", "step 2 raised SystemExit: 3"),
                         ("interrupt", "step 2 raised KeyboardInterrupt")]:
        model = IsolatedModel("faulty", Faulty, {"mode": mode}, timeout_s=5.0)
        try:
            assert run_item(model, item).failure.startswith(reason), mode
        finally:
            model.close()


def test_registry_errors_are_one_line():
    with pytest.raises(UnknownModel, match="unknown model 'nope'.*known: .*oracle"):
        load_model("nope")
    with pytest.raises(ValueError, match="not 80 ms"):
        ModelInfo("bad", sample_rate=24000, block_samples=1280)


def test_items_draw_their_lead_per_item_and_may_start_before_the_dialogue(corpus_item):
    """Each item's question starts a lead drawn in ``LEAD_S`` from the item's key (the same every time, not one
    value for all, so no fixed time after an item's start is a question's end); an item whose lead is longer than
    the room before its question starts before the dialogue, and hears the dialogue's own floor there."""
    from benchmark.items import LEAD_S, lead_samples
    from datagen.schema import samples_to_seconds

    corpus, bank, _, _ = corpus_item
    specs = build_items(corpus.dialogues)
    assert [s.to_dict() for s in specs] == [s.to_dict() for s in build_items(corpus.dialogues)]
    leads = []
    for s in specs:
        q = next(p for p in s.probes if p.name == "user_turn") if s.family != "reactive" else None
        first = min(c.at for c in s.clips)  # the question's first turn, placed `lead` after the item's start
        leads.append(samples_to_seconds(first if q is None else q.start))
    assert all(LEAD_S[0] - 1e-3 <= x <= LEAD_S[1] + 1e-3 for x in leads)
    assert max(leads) - min(leads) > 0.5 and lead_samples("a/question0") == lead_samples("a/question0")
    early = next(s for s in specs if s.start < 0)
    d = corpus.dialogue(early.dialogue_id)
    audio = corpus.audio(d.id)
    item = materialize(early, d, audio, bank)
    assert len(item.env) == early.num_samples
    pre = item.env[: -early.start]  # before the dialogue: floor only, at the dialogue's own level
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert 0.3 < rms(pre) / rms(audio["noise"]) < 3.0
