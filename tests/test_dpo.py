"""Stage 3 DPO (issue 12): the loss against TRL's formula written out, log 2 when the policy is the reference, one
step raises chosen over rejected, cached reference log-probs equal on-the-fly ones, and the real CLI trains, logs
TRL's metric names, benchmarks periodically and resumes exactly."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

FAST = ["data.batch_size=2", "optim.warmup_steps=0", "eval.bench=false", "threads=1", "dpo.bench_every=0",
        "eval.max_batches=1", "data.max_seconds=2.4"]


@pytest.fixture(scope="module")
def stage2(tmp_path_factory) -> Path:
    """A checkpoint of the model config stage 3 trains (what a stage-2 run's final/ is)."""
    from model.checkpoint import save_checkpoint
    from model.config import config_from_dict
    from model.salmonn import SalmonnOmni
    from recipes.config import load_train_config, model_config_dict

    out = tmp_path_factory.mktemp("s2") / "final"
    save_checkpoint(SalmonnOmni(config_from_dict(model_config_dict(load_train_config("dpo", "tiny")))), out)
    return out


@pytest.fixture(scope="module")
def pairs_dir(bench_corpus, tmp_path_factory) -> Path:
    from datagen.pairs import build_pair_set
    from recipes.pairs import ModelPairTokens

    out = tmp_path_factory.mktemp("dpo-pairs") / "pairs"
    build_pair_set(bench_corpus, out, ModelPairTokens("tiny"), context_s=2.0, progress=False)
    return out


@pytest.fixture(scope="module")
def model_and_pairs(stage2, pairs_dir):
    from datagen.pairs import PairSet
    from model.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    model = load_checkpoint(stage2)
    pairs = PairSet(pairs_dir).load()
    kinds = {}
    for p in pairs:  # a few of each kind
        kinds.setdefault(p.kind, []).append(p)
    return model, [p for ps in kinds.values() for p in ps[:1]]


def _trl_sigmoid(pc, pr, rc, rr, beta, eps=0.0):
    """TRL's sigmoid DPO loss written out by hand (DPOTrainer.dpo_loss, loss_type="sigmoid"):
    logits = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected);
    loss = -logsigmoid(beta * logits) * (1 - eps) - logsigmoid(-beta * logits) * eps;
    chosen_rewards = beta * (policy_chosen - ref_chosen); rejected_rewards = beta * (policy_rejected - ref_rejected)."""
    logsig = lambda x: -math.log1p(math.exp(-x))  # noqa: E731
    z = (pc - pr) - (rc - rr)
    return -logsig(beta * z) * (1 - eps) - logsig(-beta * z) * eps, beta * (pc - rc), beta * (pr - rr)


def test_loss_formula_agrees_with_trl_on_hand_made_numbers():
    from recipes.stage3_dpo import dpo_sigmoid

    cases = [(-1.2, -3.4, -1.5, -2.9, 0.1, 0.0), (-10.0, -2.0, -9.0, -2.5, 0.05, 0.0), (-4.0, -4.0, -3.0, -6.0, 0.5, 0.1),
             (-0.3, -25.0, -0.3, -25.0, 0.1, 0.0)]
    for pc, pr, rc, rr, beta, eps in cases:
        t = lambda x: torch.tensor([x], dtype=torch.float64)  # noqa: E731
        loss, cr, rj = dpo_sigmoid(t(pc), t(pr), t(rc), t(rr), beta, eps)
        want = _trl_sigmoid(pc, pr, rc, rr, beta, eps)
        assert abs(float(loss) - want[0]) < 1e-12 and abs(float(cr) - want[1]) < 1e-12 and abs(float(rj) - want[2]) < 1e-12


def test_loss_is_log2_when_the_policy_is_the_reference(model_and_pairs):
    from recipes.stage3_dpo import dpo_sigmoid, pair_batch, reference_logps, span_logps

    model, pairs = model_and_pairs
    ref = torch.as_tensor(reference_logps(model, pairs))
    lp = span_logps(model, pair_batch(pairs, model.shift_id)).double()
    B = len(pairs)
    loss, cr, rj = dpo_sigmoid(lp[:B], lp[B:], ref[:, 0], ref[:, 1], 0.1)
    assert torch.allclose(loss, torch.full_like(loss, math.log(2)), atol=1e-5)
    assert float(cr.abs().max()) < 1e-5 and float(rj.abs().max()) < 1e-5


def test_precomputed_reference_equals_on_the_fly(model_and_pairs, stage2, pairs_dir, tmp_path, monkeypatch):
    from datagen.pairs import PairSet
    from recipes.stage3_dpo import cached_reference, pair_batch, span_logps

    monkeypatch.setenv("DUPLEXKIT_CACHE", str(tmp_path / "cache"))
    model, pairs = model_and_pairs
    ps = PairSet(pairs_dir)
    first, path = cached_reference(model, ps, pairs, str(stage2), model.cfg.to_dict(), 2)
    again, path2 = cached_reference(None, ps, pairs, str(stage2), model.cfg.to_dict(), 2)  # from the cache
    assert path == path2 and path.is_file() and np.array_equal(first, again)
    model.train()
    with torch.no_grad():
        fly = span_logps(model, pair_batch(pairs, model.shift_id)).double().numpy()
    model.eval()
    B = len(pairs)
    np.testing.assert_allclose(first[:, 0], fly[:B], atol=1e-4)
    np.testing.assert_allclose(first[:, 1], fly[B:], atol=1e-4)


def test_the_decision_score_leaves_the_text_out_of_the_preference(model_and_pairs):
    from recipes.stage3_dpo import MODEL_KEYS, pair_batch, span_scores

    model, pairs = model_and_pairs
    batch = pair_batch(pairs, model.shift_id)
    model.eval()
    with torch.no_grad():
        scores = span_scores(model, batch)
        logits = model({k: batch[k] for k in MODEL_KEYS}, return_logits=True)["logits"].double()
    tokens, mode, span = (torch.as_tensor(batch[k]) for k in ("tokens", "mode", "span"))
    mode_prev = mode.long() ^ (tokens == model.shift_id).long()
    p = torch.softmax(logits.masked_fill(~model.allowed(mode_prev), float("-inf")), -1)
    p_shift = p[..., model.shift_id]
    p_token = p.gather(-1, tokens.long()[..., None])[..., 0]
    # by hand: <shift> scores p(<shift>) both ways; any other token scores itself, or (decisions) 1 - p(<shift>)
    want_dec = torch.where(tokens == model.shift_id, p_shift, 1 - p_shift).log()
    want_tok = p_token.log()
    for key, want in (("decisions", want_dec), ("tokens", want_tok)):
        by_hand = torch.where(span.bool(), want, torch.zeros_like(want)).sum(-1)
        torch.testing.assert_close(scores[key].double(), by_hand, atol=1e-3, rtol=1e-4)
    speaking_text = span.bool() & mode_prev.bool() & (tokens != model.shift_id)
    assert speaking_text.any()  # the pairs hold text while speaking: there the two scores differ
    listening = span.bool() & ~mode_prev.bool()
    assert torch.allclose(want_dec[listening], want_tok[listening], atol=1e-6)  # and agree while listening


def test_an_unknown_dpo_score_is_a_config_error():
    from datagen.common.config import ConfigError
    from recipes.config import load_train_config

    with pytest.raises(ConfigError, match="dpo.score: unknown 'text'"):
        load_train_config("dpo", "tiny", ["dpo.score=text"])


def test_one_step_raises_chosen_relative_to_rejected(stage2, model_and_pairs):
    from model.checkpoint import load_checkpoint
    from recipes.params import set_trainable
    from recipes.stage3_dpo import dpo_sigmoid, pair_batch, reference_logps, span_logps

    _, pairs = model_and_pairs
    torch.manual_seed(0)
    model = load_checkpoint(stage2)
    ref = torch.as_tensor(reference_logps(model, pairs))
    params = [p for _, p in set_trainable(model, ["connector", "lm"])]
    opt = torch.optim.Adam(params, lr=1e-3)
    batch = pair_batch(pairs, model.shift_id)
    B = len(pairs)
    model.train()
    lp = span_logps(model, batch).double()
    loss, _, _ = dpo_sigmoid(lp[:B], lp[B:], ref[:, 0], ref[:, 1], 0.1)
    loss.mean().backward()
    opt.step()
    with torch.no_grad():
        after = span_logps(model, batch).double()
    margin_before = (lp[:B] - lp[B:]).detach()
    margin_after = after[:B] - after[B:]
    assert float((margin_after - margin_before).mean()) > 0
    assert float(dpo_sigmoid(after[:B], after[B:], ref[:, 0], ref[:, 1], 0.1)[0].mean()) < math.log(2)


def _log(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]


def test_cli_trains_dpo_logs_trl_metrics_and_benchmarks(stage2, pairs_dir, bench_corpus, tmp_path, capsys):
    from duplexkit_cli import main

    out = tmp_path / "run"
    rc = main(["train", "3", "--config", "tiny", "--data", str(pairs_dir), "--data", str(bench_corpus),
               "--eval-data", str(bench_corpus), "--out", str(out), "--quiet", f"init_from={stage2}", "max_steps=2",
               "eval_every=2", "save_every=2", *FAST, "dpo.bench_every=2", "dpo.bench_tasks=[pause_handling]",
               "dpo.replay_ratio=0.5"])
    assert rc == 0, capsys.readouterr().err
    log = _log(out)
    train = [r for r in log if "loss" in r]
    assert len(train) == 2
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                "logps/rejected", "dpo_loss", "sft_loss", "replay_loss"):
        assert key in train[0], key
    assert abs(train[0]["dpo_loss"] - math.log(2)) < 1e-4  # the policy starts as the reference
    assert train[0]["replay_loss"] > 0  # replayed SFT windows were mixed in
    ev = [r["eval"] for r in log if "eval" in r][-1]
    assert "rewards/accuracies" in ev and "bench/pause_handling_takeover_rate" in ev
    for name in ("dpo.png", "loss.png", "summary.json", "final/model.safetensors", "config.yaml"):
        assert (out / name).is_file(), name


def test_dpo_resume_equals_not_stopping(stage2, pairs_dir, bench_corpus, tmp_path):
    from recipes.cli import train
    from safetensors.torch import load_file

    def run(out):
        return train("dpo", "tiny", FAST + [f"init_from={stage2}", "max_steps=4", "save_every=2", "eval_every=0"],
                     [str(pairs_dir), str(bench_corpus)], None, str(out), progress=False)

    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run(straight)
    run(stopped)
    shutil.rmtree(stopped / "checkpoints" / "step-000004")
    shutil.rmtree(stopped / "final")
    run(stopped)
    a, b = load_file(str(straight / "final" / "model.safetensors")), load_file(str(stopped / "final" / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
    assert [r["step"] for r in _log(stopped) if "loss" in r] == [1, 2, 3, 4]
    assert [r["rewards/margins"] for r in _log(stopped) if "loss" in r] == \
        [r["rewards/margins"] for r in _log(straight) if "loss" in r]
