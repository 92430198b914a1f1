"""The turn_classifier baseline: causal streaming features, deterministic training, a protocol-abiding adapter."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="turn_classifier needs scikit-learn")
pytest.importorskip("librosa", reason="turn_classifier needs librosa")

from benchmark.models.turn_classifier import (FeatureStream, TurnClassifierModel, raw_block_features,  # noqa: E402
                                              stream_features, FeatureConfig)
from benchmark.train_classifier import _candidates, dialogue_targets, train_classifier  # noqa: E402

B = 1280


def _speechy(n_blocks: int, seed: int) -> np.ndarray:
    """A voiced, amplitude-modulated tone with noise: pitch and energy features have something to follow."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_blocks * B) / 16000
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = 0.2 * np.sin(2 * np.pi * np.cumsum(f0) / 16000) * (np.sin(2 * np.pi * 2.5 * t) > -0.2)
    return (x + 0.003 * rng.standard_normal(x.size)).astype(np.float32)


def test_streaming_equals_batch_and_block_k_never_reads_later_audio():
    mic, own = _speechy(40, 0), _speechy(40, 1) * 0.5
    own[: 10 * B] = 0.0  # its own output silent at first (the fast path) then talking
    batch = stream_features(mic, own)
    fs = FeatureStream()
    stream = np.stack([fs.push(mic[k * B:(k + 1) * B], own[k * B:(k + 1) * B]) for k in range(40)])
    assert np.array_equal(batch, stream)
    assert batch.shape == (40, len(FeatureStream.names())) and np.isfinite(batch).all()
    # change everything after block 25: features of blocks 0..25 are untouched
    mic2, own2 = mic.copy(), own.copy()
    mic2[26 * B:] = np.random.default_rng(5).standard_normal(14 * B).astype(np.float32)
    own2[26 * B:] = 0.0
    other = stream_features(mic2, own2)
    assert np.array_equal(batch[:26], other[:26])
    assert not np.array_equal(batch[26:], other[26:])


def test_silent_fast_path_equals_the_full_computation(monkeypatch):
    import benchmark.models.turn_classifier as tc

    fast = raw_block_features(np.zeros(2 * B, np.float32), FeatureConfig())
    tiny = np.zeros(2 * B, np.float32)
    tiny[0] = 1e-30  # not digital silence: the full path, on a signal that is silence for every measure
    with np.errstate(all="ignore"):
        full = tc.raw_block_features(tiny, FeatureConfig())
    assert np.allclose(fast, full, atol=1e-6), (fast, full)


def test_targets_follow_the_state_labels(bench_corpus):
    from datagen.corpus import Corpus

    found_stop = False
    for d in Corpus(bench_corpus).dialogues:
        t = dialogue_targets(d)
        s = t["state"]
        assert not (t["start_w"] & t["stop_w"]).any()
        assert ((t["start_y"] == 1) <= (s == 0)).all() and ((t["stop_y"] == 1) <= (s == 1)).all()
        onsets = [k for k in range(1, len(s)) if s[k] and not s[k - 1]]
        for k in onsets:
            assert t["start_y"][k - 1] == 1
        found_stop |= bool(t["stop_y"].any())
    assert found_stop  # the bench corpus has interruptions: their stops are positives


@pytest.fixture(scope="module")
def val_corpus(tmp_path_factory, small_acoustics) -> Path:
    from datagen.config import GeneratorConfig
    from datagen.generate import generate

    out = tmp_path_factory.mktemp("tc-val")
    config = GeneratorConfig.from_dict({"acoustics": dict(small_acoustics), "dialogues_per_shard": 4,
                                        "dialogue_seconds": [14.0, 18.0]})
    generate(out, 1.0, seed=14, workers=1, config=config, progress=False)
    return out


# A few dialogues keep training to seconds: the interruption ones (stop positives) and turn-taking / pauses.
KEEP = ("interruption_independent", "interruption_dependent", "turn_taking", "pause_handling")


def _keep(d) -> bool:
    return d.scenario in KEEP


def _quick():
    return [c for c in _candidates() if c[0] == "logreg" and c[1]["C"] == 1.0 or c[1].get("max_leaf_nodes") == 15]


def _bytes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def trained(bench_corpus, val_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tc") / "model"
    train_classifier(bench_corpus, val_corpus, out, progress=False, candidates=_quick(), select=_keep)
    return out


def test_training_is_deterministic_and_the_folder_is_complete(trained, bench_corpus, val_corpus, tmp_path):
    import json

    again = tmp_path / "again"
    train_classifier(bench_corpus, val_corpus, again, progress=False, candidates=_quick(), select=_keep)
    assert _bytes(again) == _bytes(trained)
    meta = json.loads((trained / "model.json").read_text())
    assert meta["features"]["version"] and set(meta["thresholds"]) == {"start", "stop"}
    assert meta["sha256"] == hashlib.sha256((trained / "model.pkl").read_bytes()).hexdigest()
    for head in ("start", "stop"):
        acc = meta["validation"][head]["val_accuracy_per_class"]
        assert all(v is None or 0.0 <= v <= 1.0 for v in acc.values())


def test_features_are_the_same_from_two_processes_and_a_stride_takes_every_kth_shard(bench_corpus, tmp_path):
    import json

    from benchmark.train_classifier import corpus_frames, shard_stride
    from datagen.corpus import list_shards, read_shard_meta

    cfg = FeatureConfig()
    one, two = corpus_frames(bench_corpus, cfg), corpus_frames(bench_corpus, cfg, workers=2)
    assert len(list_shards(bench_corpus)) > 1 and one["X"].shape == two["X"].shape
    assert all(np.array_equal(one[k], two[k]) for k in ("X", "start_y", "start_w", "stop_y", "stop_w", "state"))
    assert one["spans"] == two["spans"] and [d.id for d in one["dialogues"]] == [d.id for d in two["dialogues"]]
    half = corpus_frames(bench_corpus, cfg, stride=2)
    kept = {d.id for sh in list_shards(bench_corpus)[::2] for d in read_shard_meta(sh)}
    assert {d.id for d in half["dialogues"]} == kept and len(half["X"]) < len(one["X"])
    (tmp_path / "stats.json").write_text(json.dumps({"total_seconds": 300 * 60.0}))
    assert [shard_stride(tmp_path, m) for m in (100.0, 150.0, 400.0, None)] == [3, 2, 1, 1]


def test_training_refuses_the_test_split_and_one_corpus_twice(bench_corpus, tmp_path):
    import json
    import shutil

    from benchmark.models.turn_classifier import ClassifierError

    with pytest.raises(ClassifierError, match="another corpus"):
        train_classifier(bench_corpus, bench_corpus, tmp_path / "m", progress=False)
    test = tmp_path / "testsplit"
    shutil.copytree(bench_corpus, test)
    stats = json.loads((test / "stats.json").read_text())
    (test / "stats.json").write_text(json.dumps({**stats, "split": "test"}))
    with pytest.raises(ClassifierError, match="split test"):
        train_classifier(test, bench_corpus, tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()


def test_adapter_runs_closed_loop_and_obeys_the_protocol(trained, bench_corpus):
    from benchmark.harness import run_item
    from benchmark.items import build_items, materialize
    from datagen.acoustics import AcousticsConfig, RIRBank
    from datagen.corpus import Corpus

    corpus = Corpus(bench_corpus)
    bank = RIRBank.load_or_build(AcousticsConfig.from_dict(corpus.stats()["config"]["acoustics"]), progress=False)
    model = TurnClassifierModel(path=str(trained), asr="none")
    assert model.info.block_samples == B and model.info.sample_rate == 16000
    specs = build_items(corpus.dialogues, ["answer", "reactive"])
    picked = [next(s for s in specs if s.family == "answer"), next(s for s in specs if s.family == "reactive")]
    for spec in picked:
        d = corpus.dialogue(spec.dialogue_id)
        item = materialize(spec, d, corpus.audio(d.id), bank)
        run = run_item(model, item, task="turn_taking")
        assert run.failure is None, run.failure
        assert len(run.step_s) == spec.num_samples // B
        assert np.isfinite(run.played).all() and np.abs(run.played).max() <= 1.0
        assert all(s in ("<think>", "<shift>") for s in run.states)
    # a session resets completely: the same item twice gives the same output
    a = run_item(model, item)
    b = run_item(model, item)
    assert np.array_equal(a.played, b.played) and a.text == b.text


def test_adapter_options_are_one_line(trained):
    from benchmark.models.turn_classifier import ClassifierError

    with pytest.raises(ClassifierError, match="needs --model-arg path"):
        TurnClassifierModel()
    with pytest.raises(ClassifierError, match="unknown option 'treshold'"):
        TurnClassifierModel(path=str(trained), treshold=0.5)
    m = TurnClassifierModel(path=str(trained), asr="none", start_threshold=0.99)
    assert m.start_threshold == 0.99
