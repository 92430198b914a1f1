"""SALMONN-omni model: config, encoder streaming, targets, training forward (overfit), checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datagen.schema import BLOCK_SAMPLES, SYNTH_DELAY_BLOCKS, frame_labels
from model.config import ConfigError, load_config
from model.salmonn import SalmonnOmni
from model.targets import build_targets, make_batch
from model.tokens import SHIFT, THINK, ByteTokenizer
from tests.model_fixtures import toy_dialogue

torch.set_num_threads(1)  # tiny ops: thread hand-off costs more than it saves on 2 cores


@pytest.fixture(scope="module")
def tiny():
    return SalmonnOmni(load_config("tiny")).eval()


# -- config ---------------------------------------------------------------------------------------------------------
def test_presets_load_and_unknown_keys_fail(tmp_path):
    for name in ("tiny", "small", "full"):
        cfg = load_config(name)
        assert cfg.name == name and cfg.embeds_per_block >= 1
    assert load_config("tiny", ["thinking=implicit", "backbone.lora.rank=4"]).backbone.lora.rank == 4
    with pytest.raises(ConfigError, match="backbone.lora_rnak"):
        load_config("tiny", ["backbone.lora_rnak=4"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nencoder: {d_modle: 3}\n")
    with pytest.raises(ConfigError, match="encoder.d_modle"):
        load_config(bad)
    with pytest.raises(ConfigError, match="thinking"):
        load_config("tiny", ["thinking=sometimes"])


def test_config_param_counts_print_for_every_preset():
    from model.cli import config_param_counts

    full = config_param_counts("full")
    assert 7.5e9 < full["total"] < 8.5e9  # a Llama-3-8B-shaped backbone
    tiny = config_param_counts("tiny")
    assert tiny["total"] < 1e6 and tiny["trainable"] == tiny["total"]


# -- encoder ------------------------------------------------------------------------------------------------------
def test_encoder_chunked_streaming_equals_full_sequence(tiny):
    from model.encoder import EncoderState

    audio = torch.as_tensor(np.random.default_rng(1).standard_normal((2, 12 * BLOCK_SAMPLES)) * 0.1).float()
    with torch.no_grad():
        full = tiny.encoder(audio)
    st = EncoderState()
    chunks = [tiny.encoder.step(audio[:, k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES], st) for k in range(12)]
    assert full.shape == (2, 12 * tiny.cfg.enc_frames_per_block, tiny.cfg.encoder.d_model)
    torch.testing.assert_close(torch.cat(chunks, 1), full, atol=1e-4, rtol=1e-4)


# -- targets -----------------------------------------------------------------------------------------------------
def test_targets_start_d_blocks_early_and_stop_at_once():
    """Starting speech waits D blocks for the synthesizer; at a natural end <think> covers the play-out and the
    closing <shift> sits in the last speaking frame, so the audio is silent from the next block on."""
    dlg, _ = toy_dialogue()
    tok = ByteTokenizer()
    tg = build_targets(dlg, tok)
    state = frame_labels(dlg)["state"]
    think, shift = tok.convert_tokens_to_ids(THINK), tok.convert_tokens_to_ids(SHIFT)
    a = int(np.argmax(state))
    b = a + int(np.argmin(state[a:]))
    assert list(np.flatnonzero(tg.tokens == shift)) == [a - SYNTH_DELAY_BLOCKS, b - 1]
    # audio plays exactly when a good assistant speaks
    np.testing.assert_array_equal(tg.audible, state)
    text = tg.tokens[(tg.tokens != think) & (tg.tokens != shift)]
    assert tok.decode(text).startswith("it is")
    assert np.all(tg.tokens[: a - SYNTH_DELAY_BLOCKS] == think) and np.all(tg.tokens[b:] == think)
    last_text = int(np.flatnonzero((tg.tokens != think) & (tg.tokens != shift)).max())
    assert np.all(tg.tokens[last_text + 1 : b - 1] == think)  # the synthesizer plays out the last text


def test_audible_starts_late_and_stops_at_once():
    from model.targets import audible_from_mode, plays_next_block

    D = SYNTH_DELAY_BLOCKS
    mode = np.array([0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0], np.int8)  # a short second turn never plays
    aud = audible_from_mode(mode)
    assert list(np.flatnonzero(aud)) == list(range(1 + D, 9))  # shift at step 8: block 9 on is silent
    assert [plays_next_block(list(mode[: k + 1])) for k in range(len(mode) - 1)] == list(aud[1:].astype(bool))


@pytest.mark.parametrize("scenario", ["interruption_independent", "interruption_dependent"])
def test_generated_barge_ins_close_at_their_causal_decision(scenario):
    """Issue 10: for every expected: stop event of generated dialogues, the closing <shift> sits in the decision's
    block, never before the end of the event's first word, and the corpus assistant is silent from the next block
    on (until the barge-in line ends)."""
    from datagen.config import GeneratorConfig
    from datagen.generate import build_dialogue, make_plan, resources_for
    from datagen.schema import end_of_frame, frame_of
    from tests.conftest import SMALL_ACOUSTICS

    cfg = GeneratorConfig.from_dict({"acoustics": dict(SMALL_ACOUSTICS), "scenario_mix": {scenario: 1.0},
                                     "dialogue_seconds": [10.0, 20.0]})
    plan, res, tok = make_plan(cfg, 1.0, 7), resources_for(cfg), ByteTokenizer()
    shift, seen = tok.convert_tokens_to_ids(SHIFT), 0
    for i in range(plan.num_dialogues):
        dlg, audio = build_dialogue(plan, i, res)
        shifts = np.flatnonzero(build_targets(dlg, tok).tokens == shift)
        for e in (e for e in dlg.events if e.expected == "stop"):
            seen += 1
            kd, line = frame_of(e.decision), dlg.turns[e.turn]
            assert e.decision >= line.words[0].end and end_of_frame(e.decision) >= line.words[0].end
            assert kd == min(k for k in shifts if k >= frame_of(e.start))  # the closing <shift> after the onset
            assert not audio["assistant"][end_of_frame(e.decision) : line.end].any()
            assert audio["assistant"][frame_of(e.decision) * BLOCK_SAMPLES : end_of_frame(e.decision)].any()
    assert seen >= 2


def test_late_stops_play_on_and_ask_for_the_stop_at_every_overrun_block():
    """late_stop_prob: the corpus assistant talks on 1-8 blocks past the decision; the fed stream follows the played
    audio (closing <shift> at the overrun's last block), the targets hold <shift> from the decision's block to it, and
    those blocks are stops for the loss weights; the model feeds ``inputs`` back and scores ``tokens``."""
    from datagen.config import GeneratorConfig
    from datagen.generate import build_dialogue, make_plan, resources_for
    from datagen.schema import end_of_frame, frame_of
    from model.targets import stop_shifts
    from tests.conftest import SMALL_ACOUSTICS

    cfg = GeneratorConfig.from_dict({"acoustics": dict(SMALL_ACOUSTICS), "dialogue_seconds": [10.0, 20.0],
                                     "scenario_mix": {"interruption_independent": 1.0}, "late_stop_prob": 1.0})
    plan, res, tok = make_plan(cfg, 1.0, 7), resources_for(cfg), ByteTokenizer()
    shift, late_seen = tok.convert_tokens_to_ids(SHIFT), 0
    for i in range(plan.num_dialogues):
        dlg, audio = build_dialogue(plan, i, res)
        tg = build_targets(dlg, tok)
        stops = stop_shifts(tg.tokens, tg.mode, shift, tg.fed)
        for e in (e for e in dlg.events if e.expected == "stop"):
            k, d = int(e.meta.get("late_stop_blocks", 0)), frame_of(e.decision)
            assert 0 <= k <= 8
            late_seen += k > 0
            assert not audio["assistant"][end_of_frame(e.decision) + k * BLOCK_SAMPLES : dlg.turns[e.turn].end].any()
            assert tg.fed[d + k] == shift and (tg.fed[d:d + k] != shift).all()  # played: talks on, then stops
            assert (tg.tokens[d:d + k + 1] == shift).all() and stops[d:d + k + 1].all()
            assert tg.mode[d + k] == 0 and (k == 0 or tg.mode[d:d + k].all())
        if tg.inputs is not None:
            batch = make_batch([(dlg, audio)], tok)
            assert (batch["inputs"][0] == tg.fed).all() and (batch["tokens"][0] == tg.tokens).all()
    assert late_seen >= 1
    # without the knob nothing is drawn: the corpus is the one an older generator made
    plain = GeneratorConfig.from_dict({"acoustics": dict(SMALL_ACOUSTICS), "dialogue_seconds": [10.0, 20.0],
                                       "scenario_mix": {"interruption_independent": 1.0}})
    dlg0, _ = build_dialogue(make_plan(plain, 1.0, 7), 0, resources_for(plain))
    assert build_targets(dlg0, tok).inputs is None and "inputs" not in make_batch([(dlg0, _)], tok)


def test_the_model_feeds_inputs_back_and_scores_tokens(tiny):
    """A batch with ``inputs`` conditions on them: the same targets after other fed tokens give another loss."""
    batch = make_batch([toy_dialogue(0)], tiny.tokenizer)
    with torch.no_grad():
        base = float(tiny(batch)["token_loss"])
        same = float(tiny({**batch, "inputs": batch["tokens"].copy()})["token_loss"])
        other = batch["tokens"].copy()
        other[0, 5:] = tiny.think_id
        moved = float(tiny({**batch, "inputs": other})["token_loss"])
    assert same == base and moved != base


def test_transcription_targets_follow_the_words_causally():
    """Issue 10, stage 1: the transcribe stream holds the user's words, each word's tokens from the block where the
    word ends (never before its audio), <think> elsewhere, no <shift>, nothing audible."""
    from datagen.schema import frame_of
    from model.targets import build_transcription_targets

    dlg, _ = toy_dialogue()
    tok = ByteTokenizer()
    tg = build_transcription_targets(dlg, tok)
    think, shift = tok.convert_tokens_to_ids(THINK), tok.convert_tokens_to_ids(SHIFT)
    text = np.flatnonzero(tg.tokens != think)
    assert tok.decode(tg.tokens[text]) == "what is two plus two" and shift not in tg.tokens
    assert not tg.mode.any() and not tg.audible.any()
    words = dlg.turns[0].words
    assert text[0] == frame_of(words[0].end - 1)
    done = 0  # text tokens emitted so far; the i-th word's tokens all sit at or after its last sample's block
    for i, w in enumerate(words):
        n = len(tok.encode(w.text if i == 0 else " " + w.text))
        assert text[done] >= frame_of(w.end - 1)
        done += n


def test_task_batch_default_is_unchanged_and_padding_weighs_nothing():
    """make_batch without tasks is the duplex batch bit for bit (and has no `task`); a duplex row in a mixed
    batch equals it too; a model with the transcribe task gives duplex rows the very same outputs."""
    items = [toy_dialogue(0), toy_dialogue(1, blocks=50)]
    tok = ByteTokenizer()
    plain = make_batch(items, tok)
    mixed = make_batch(items, tok, tasks=["duplex", "transcribe"])
    assert "task" not in plain and list(mixed["task"]) == [0, 1]
    for k in plain:
        np.testing.assert_array_equal(plain[k][0], mixed[k][0])
    assert not mixed["valid"][1, 50:].any()  # padding: no loss (the loss masks by valid)
    base = SalmonnOmni(load_config("tiny")).eval()
    both = SalmonnOmni(load_config("tiny", ["tasks=[duplex,transcribe]"])).eval()
    assert set(both.state_dict()) - set(base.state_dict()) == {"task_embed"}
    both.load_state_dict(base.state_dict(), strict=False)  # an old checkpoint's tensors
    with torch.no_grad():
        both.task_embed.normal_()
        a = base({k: v[:1] for k, v in plain.items()}, return_logits=True)
        b = both({k: v[:1] for k, v in mixed.items()}, return_logits=True)
        row = {k: v[1:] for k, v in mixed.items()}
        c = both(row, return_logits=True)
        d = both({**row, "task": np.zeros(1, np.int64)}, return_logits=True)
    assert torch.equal(a["logits"], b["logits"])  # duplex: bit for bit
    assert not torch.allclose(c["logits"], d["logits"])  # the task vector is seen
    with pytest.raises(ValueError, match="need the model config key `tasks`"):
        base({k: v[1:] for k, v in mixed.items()})
    with pytest.raises(ConfigError, match="tasks"):
        load_config("tiny", ["tasks=[transcribe]"])


# -- training forward ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("thinking", ["explicit", "implicit"])
def test_training_forward_overfits_a_tiny_batch(thinking):
    model = SalmonnOmni(load_config("tiny", [f"thinking={thinking}"])).train()
    batch = make_batch([toy_dialogue(0), toy_dialogue(1, answer="four it is")], model.tokenizer)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        out = model(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first or {k: float(out[k].detach()) for k in ("token_loss", "synth_loss")}
    last = {k: float(out[k].detach()) for k in ("token_loss", "synth_loss")}
    print(thinking, "before", first, "after", last)
    assert last["token_loss"] < 0.2 * first["token_loss"]
    assert last["synth_loss"] < 0.5 * first["synth_loss"]


def test_same_seed_same_weights():
    a, b = SalmonnOmni(load_config("tiny")), SalmonnOmni(load_config("tiny"))
    c = SalmonnOmni(load_config("tiny", ["seed=1"]))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


# -- checkpoints -------------------------------------------------------------------------------------------------
def test_checkpoint_round_trip_and_mismatch(tmp_path, tiny):
    from model.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tiny, tmp_path / "ck")
    loaded = load_checkpoint(tmp_path / "ck")
    sa, sb = tiny.state_dict(), loaded.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    cfg_text = (tmp_path / "ck" / "config.yaml").read_text().replace("d_model: 64", "d_model: 32", 1)
    (tmp_path / "ck" / "config.yaml").write_text(cfg_text)
    with pytest.raises(RuntimeError, match="does not match its config.yaml"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(RuntimeError, match="expected config.yaml"):
        load_checkpoint(tmp_path / "nothing")


def test_cli_init_and_info(tmp_path, capsys):
    from duplexkit_cli import main

    assert main(["model", "init", "--config", "tiny", "--out", str(tmp_path / "ck")]) == 0
    assert main(["model", "info", "--checkpoint", str(tmp_path / "ck")]) == 0
    out = capsys.readouterr().out
    assert "trainable" in out and "encoder" in out


def test_missing_local_backbone_and_backend_are_one_line_errors(tmp_path):
    with pytest.raises(RuntimeError, match="backbone.path") as e:
        SalmonnOmni(load_config("full", [f"backbone.path={tmp_path / 'nope'}"]))
    assert "\n" not in str(e.value)
    with pytest.raises(RuntimeError, match="cosyvoice_path") as e:
        SalmonnOmni(load_config("tiny", ["synth.backend=cosyvoice2"]))
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_small_backbone_loads_offline():
    model = SalmonnOmni(load_config("small")).eval()
    counts = model.param_counts()
    assert 130e6 < counts["backbone"] < 140e6 and counts["lora"] > 0
    assert counts["trainable"] < 0.2 * counts["total"]
    ids = model.tokenizer.encode(" Paris")
    assert model.tokenizer.decode(ids) == " Paris"
    st = model.new_state()
    r = model.step(st, np.zeros(BLOCK_SAMPLES, np.float32), np.zeros(BLOCK_SAMPLES, np.float32))
    assert r.audio.shape == (BLOCK_SAMPLES,) and r.state in ("<think>", "<shift>")


def test_decision_rule_adds_the_shift_offset_per_mode():
    """One rule for the streaming step and the teacher-forced decisions: the mode's mask plus the configured
    ``decision`` offset on <shift> (start_bias while listening, stop_bias while speaking)."""
    import torch

    from model.config import load_config
    from model.salmonn import SalmonnOmni

    model = SalmonnOmni(load_config("tiny"))
    logits = torch.zeros(2, model.base_vocab + 2)
    logits[:, model.think_id] = 1.0
    logits[:, model.shift_id] = 0.5
    logits[1, 65] = 2.0  # a text token, allowed only while speaking
    assert model.decision_logits(logits, torch.tensor([0, 1])).argmax(-1).tolist() == [model.think_id, 65]
    model.cfg.decision.start_bias, model.cfg.decision.stop_bias = 1.0, 2.0
    assert model.decision_logits(logits, torch.tensor([0, 1])).argmax(-1).tolist() == [model.shift_id] * 2


@pytest.mark.parametrize("flags, expected", [({"avx512f", "amx_bf16"}, torch.bfloat16), ({"avx512f"}, torch.float32)])
def test_auto_backbone_dtype_is_bf16_only_where_the_cpu_does_it_natively(monkeypatch, flags, expected):
    """bf16 is emulated on a CPU without AMX-BF16 / AVX512-BF16 (~3x slower than fp32 there): auto keeps fp32."""
    import datagen.common.hardware as hardware
    from model.backbone import backbone_dtype

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert backbone_dtype("auto") == expected and backbone_dtype("float32") == torch.float32
    cfg = load_config("tiny", ["backbone.dtype=auto"])
    assert SalmonnOmni(cfg).llm_dtype == expected
    with pytest.raises(ConfigError, match="backbone.dtype: 'bf16' .expected float32, bfloat16, float16 or auto"):
        load_config("tiny", ["backbone.dtype=bf16"])
