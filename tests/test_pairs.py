"""Preference pairs (issue 12): static pairs from the labels of a generated corpus and on-policy pairs from benchmark
runs; their invariants (exact shared prefix, span, every kind, rejected = recorded tokens), determinism and resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from datagen.schema import BLOCK_SAMPLES, frame_start

ALWAYS_TALK_TOKENS = ("shift", "text")


@pytest.fixture(scope="module")
def tokens():
    from recipes.pairs import ModelPairTokens

    return ModelPairTokens("tiny")


@pytest.fixture(scope="module")
def label_set(bench_corpus, tokens, tmp_path_factory) -> Path:
    from datagen.pairs import build_pair_set

    out = tmp_path_factory.mktemp("pairs") / "labels"
    build_pair_set(bench_corpus, out, tokens, progress=False)
    return out


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _expected_kinds(corpus) -> set[str]:
    kinds = {"end_of_turn", "echo_only"}
    for d in corpus:
        for e in d.events:
            if e.type == "interruption":
                kinds.add("interruption")
            elif e.type == "user_backchannel":
                kinds.add("user_backchannel")
            elif e.type == "distractor":
                kinds.add(e.kind)
            elif e.type == "user_pause":
                kinds.add("pause")
    return kinds


def test_label_pairs_cover_every_kind_with_exact_prefixes_and_spans(label_set, bench_corpus, tokens):
    from datagen.corpus import Corpus
    from datagen.pairs import PairSet
    from recipes.stage3_dpo import pair_batch

    corpus = Corpus(bench_corpus)
    ps = PairSet(label_set)
    pairs = ps.load()
    stats = json.loads((label_set / "stats.json").read_text())
    assert set(stats["kinds"]) == _expected_kinds(corpus)
    assert stats["num_pairs"] == len(pairs) == sum(stats["sources"]["labels"].values())
    lines = (label_set / "text.jsonl").read_text().splitlines()
    assert len(lines) == len(pairs) and set(json.loads(lines[0])) >= {"prompt", "chosen", "rejected"}
    audio_of = {}
    stop_kinds = {"user_backchannel", "echo_only", "unrelated_question", "talking_to_others"}
    for p in pairs:
        d, e = p.span
        if p.dialogue not in audio_of:
            audio_of = {p.dialogue: corpus.audio(p.dialogue, ["mic", "assistant"])}
        audio = audio_of[p.dialogue]
        dlg = corpus.dialogue(p.dialogue)
        T = tokens.targets(dlg)
        w0 = p.start // BLOCK_SAMPLES
        a, b = p.start, p.start + frame_start(d + 1)
        # the shared prefix is the corpus window, and both branches read exactly it up to block d
        np.testing.assert_allclose(p.mic, audio["mic"][a:b], atol=1e-6)
        np.testing.assert_allclose(p.assistant, audio["assistant"][a:b], atol=1e-6)
        (cm, ca, ct), (rm, ra, rt) = p.inputs("chosen"), p.inputs("rejected")
        n = frame_start(d + 1)
        assert np.array_equal(cm[:n], rm[:n]) and np.array_equal(ca[:n], ra[:n]) and np.array_equal(ct[:d], rt[:d])
        assert np.array_equal(p.prefix_tokens, T[w0 : w0 + d])
        assert p.start_mode == (int(tokens.mode(T)[w0 - 1]) if w0 else 0)
        if p.kind == "interruption":
            assert list(p.chosen) == [tokens.shift] and e - d == 1
        elif p.kind in stop_kinds and p.rejected[0] == tokens.shift:
            assert np.array_equal(p.chosen, T[w0 + d : w0 + e])  # the corpus kept talking
            assert not ra[n:].any()  # the rejected branch is silent from the block after its <shift>
        elif p.kind in ("pause", "background_speech"):
            assert p.rejected[0] == tokens.shift and (p.chosen == tokens.think).all() and e - d <= 4
        elif p.kind == "end_of_turn":
            assert p.chosen[0] == tokens.shift and (p.rejected == tokens.think).all()
    batch = pair_batch(pairs[:3], tokens.shift)
    for r, p in enumerate(pairs[:3] * 2):
        d, e = p.span
        assert batch["span"][r].sum() == e - d and batch["span"][r, d:e].all()


def test_a_stopped_branch_loses_its_echo_and_keeps_the_tail(label_set, bench_corpus):
    """After a rejected stop the mic is the corpus mic minus the echo of what is no longer played: equal to the
    user/other/noise stems plus the echo of the audio played before the stop (rendered through the echo path)."""
    from datagen.acoustics import RIRBank
    from datagen.acoustics.echo import render_echo
    from datagen.corpus import Corpus
    from datagen.pairs import PairSet

    corpus = Corpus(bench_corpus)
    bank = RIRBank.load_or_build(corpus.acoustics(), progress=False)
    pair = next(p for p in PairSet(label_set) if p.kind == "user_backchannel" and p.span_end - p.divergence > 2)
    d, e = pair.span
    dlg = corpus.dialogue(pair.dialogue)
    audio = corpus.audio(dlg.id)
    a, b = pair.start + frame_start(d + 1), pair.start + frame_start(e)
    played = audio["assistant"].copy()
    played[a:] = 0.0
    tail = render_echo(played[:b], dlg.scene, bank, dlg.scene.echo.gain)[a:b]
    expected = audio["user"][a:b] + audio["other"][a:b] + audio["noise"][a:b] + tail
    assert np.abs(pair.rejected_mic - expected).max() < 2e-3
    assert np.abs(pair.chosen_mic - audio["mic"][a:b]).max() < 1e-6
    assert np.abs(audio["echo"][a:b]).max() > 10 * np.abs(pair.rejected_mic - expected).max()


def test_pairs_are_deterministic_and_resume(label_set, bench_corpus, tokens, tmp_path, capsys):
    from datagen.pairs import build_pair_set
    from duplexkit_cli import main

    again = tmp_path / "again"
    build_pair_set(bench_corpus, again, tokens, progress=False)
    assert _digest(again) == _digest(label_set)
    shards = sorted((again / "data").glob("*.parquet"))
    shards[0].unlink()
    (again / "stats.json").unlink()
    assert main(["pairs", "--data", str(bench_corpus), "--out", str(again), "--no-progress"]) == 0
    assert "pairs to" in capsys.readouterr().out
    assert _digest(again) == _digest(label_set)
    # inspect and plot read it
    assert main(["inspect", str(label_set)]) == 0
    out = capsys.readouterr().out
    assert "interruption" in out and "rejected" in out
    first = json.loads((label_set / "text.jsonl").read_text().splitlines()[0])["id"]
    assert main(["plot", str(label_set), first, "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000


class TokenTalker:
    """always_talk with a token stream in the tiny byte vocabulary (``<shift>`` first, then a byte of its text or
    ``<think>``), so on-policy pairs can be checked against recorded token ids."""

    def __init__(self, **_):
        from benchmark.models.baselines import AlwaysTalkModel
        from benchmark.protocol import ModelInfo
        from model.tokens import ByteTokenizer, tokenizer_identity

        self.inner = AlwaysTalkModel()
        self.info = ModelInfo("token-talker", text=True, state=True,
                              extra={"tokenizer": tokenizer_identity(ByteTokenizer())})

    def open_session(self, info):
        return _TokenTalkerSession(self.inner.open_session(info))


class _TokenTalkerSession:
    def __init__(self, inner):
        self.inner, self.k = inner, 0

    def step(self, mic_block):
        out = self.inner.step(mic_block)
        out.token = 259 if self.k == 0 else (out.text.encode()[0] if out.text else 258)
        out.state = "<shift>" if self.k == 0 else ("text" if out.text else "<think>")
        self.k += 1
        return out

    def close(self):
        pass


@pytest.fixture(scope="module")
def runs(bench_corpus, tmp_path_factory) -> dict[str, Path]:
    from benchmark.models import register
    from benchmark.runner import RunConfig, run_bench

    register("token-talker", TokenTalker)
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name in ("oracle", "always_talk", "token-talker"):
        run_bench(RunConfig(model=name, data=str(bench_corpus), out=str(root / name), tasks=["barge_in",
                            "pause_handling"], echo_factors={"barge_in": [1.0]}, asr=None, save_audio=0,
                            progress=False, isolate=False))
        out[name] = root / name
    return out


def _records(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "runs").glob("*.json"))]


def test_on_policy_pairs_from_baseline_runs(runs, bench_corpus, tokens, tmp_path):
    from datagen.pairs import PairSet, build_pair_set
    from datagen.pairs.runs import read_trace

    stats = build_pair_set(bench_corpus, tmp_path / "p", tokens, runs=[runs["oracle"], runs["always_talk"]],
                           labels=False, progress=False)
    assert "run:oracle" not in stats["sources"]  # the oracle is right everywhere: no pairs
    recs = _records(runs["always_talk"])
    missed = sum(r.get("outcome") == "missed" for r in recs)
    pause = sum(bool(r.get("pause_takeover")) for r in recs if r["family"] == "pause")
    assert missed > 0 and pause > 0
    assert stats["outcomes"].get("missed") == missed and stats["outcomes"].get("pause_takeover") == pause
    assert stats["sources"]["run:always_talk"]["interruption"] == missed
    pairs = PairSet(tmp_path / "p").load()
    for p in pairs:
        tr = read_trace(runs["always_talk"] / "traces" / f"{p.meta['run_id'].replace('/', '_')}.npz")
        d = p.divergence
        n = frame_start(d + 1)
        assert np.array_equal(p.mic, tr.heard[p.start : p.start + n])  # what the model really heard and played
        assert np.array_equal(p.assistant, tr.played[p.start : p.start + n])
        if p.outcome == "missed":
            assert p.chosen[0] == tokens.shift and not p.chosen_assistant.any()


def test_an_early_take_over_is_corrected_only_until_the_question_ends(bench_corpus, tokens, tmp_path):
    """An early take-over's chosen branch holds from the model's first speaking step to the user's end at most:
    past it, the labelled behaviour is to take the turn, so holding on there would teach answering late."""
    from benchmark.runner import RunConfig, run_bench
    from datagen.pairs import PairSet, build_pair_set
    from datagen.pairs.runs import read_trace
    from datagen.schema import frame_of

    run = tmp_path / "talker"
    run_bench(RunConfig(model="always_talk", data=str(bench_corpus), out=str(run), tasks=["turn_taking"],
                        echo_factors={"turn_taking": [1.0]}, asr=None, save_audio=0, progress=False, isolate=False,
                        max_items=4))
    # spans long enough to run past every question's end
    build_pair_set(bench_corpus, tmp_path / "p", tokens, runs=[run], labels=False, span_blocks=64, progress=False)
    early = [p for p in PairSet(tmp_path / "p").load() if p.outcome == "early_takeover"]
    assert early  # always_talk speaks over every question
    for p in early:
        q_end = read_trace(run / "traces" / f"{p.meta['run_id'].replace('/', '_')}.npz").meta["question_end"]
        end = p.meta["divergence_step"] - p.divergence + p.span_end  # the span's end, in the item's steps
        assert p.divergence < p.span_end and end <= frame_of(int(q_end))
        assert set(p.chosen) == {tokens.shift} | ({tokens.think} if len(p.chosen) > 1 else set())


def test_on_policy_rejected_tokens_are_the_recorded_tokens(runs, bench_corpus, tokens, tmp_path):
    from datagen.pairs import PairSet, build_pair_set
    from datagen.pairs.runs import read_trace

    build_pair_set(bench_corpus, tmp_path / "p", tokens, runs=[runs["token-talker"]], labels=False, progress=False)
    pairs = PairSet(tmp_path / "p").load()
    assert pairs and all(p.meta["recorded_tokens"] for p in pairs)
    for p in pairs:
        tr = read_trace(runs["token-talker"] / "traces" / f"{p.meta['run_id'].replace('/', '_')}.npz")
        D, w0 = p.meta["divergence_step"], p.meta["divergence_step"] - p.divergence
        assert np.array_equal(p.rejected, tr.tokens[D : D + len(p.rejected)])
        assert np.array_equal(p.prefix_tokens, tr.tokens[w0:D])


def test_keep_pairs_from_right_outcomes(runs, bench_corpus, tokens, tmp_path):
    """``keep``: the oracle's right outcomes give pairs whose chosen branch is its own (written-out) behaviour."""
    from datagen.pairs import PairSet, build_pair_set
    from datagen.pairs.runs import model_tokens, read_trace

    stats = build_pair_set(bench_corpus, tmp_path / "k", tokens, runs=[runs["oracle"]], labels=False, keep=True,
                           progress=False)
    assert stats["num_pairs"] > 0 and all(o.startswith("keep:") for o in stats["outcomes"])
    caught = sum(r.get("outcome") == "caught" for r in _records(runs["oracle"]))
    assert stats["outcomes"].get("keep:caught") == caught
    for p in PairSet(tmp_path / "k"):
        tr = read_trace(runs["oracle"] / "traces" / f"{p.meta['run_id'].replace('/', '_')}.npz")
        D = p.meta["divergence_step"]
        assert np.array_equal(p.chosen, model_tokens(tr, tokens)[0][D : D + len(p.chosen)])
