"""SALMONN-omni streaming: the KV-cached stream decides what one full forward decides, sessions reset
completely, and the benchmark adapter checks its inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.protocol import SessionInfo
from benchmark.models import load_model
from datagen.schema import BLOCK_SAMPLES
from model.config import load_config
from model.salmonn import SalmonnOmni
from model.tokens import SHIFT, THINK
from tests.model_fixtures import toy_dialogue

torch.set_num_threads(1)


def _stream(model, mic, seed=0):
    st = model.new_state(seed)
    own, owns, outs = np.zeros(BLOCK_SAMPLES, np.float32), [], []
    for k in range(len(mic) // BLOCK_SAMPLES):
        owns.append(own)
        r = model.step(st, mic[k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES], own)
        own = r.audio
        outs.append(r)
    return st, np.concatenate(owns), outs


@pytest.fixture(scope="module")
def tiny():
    return SalmonnOmni(load_config("tiny")).eval()


@pytest.mark.parametrize("thinking", ["explicit", "implicit"])
def test_stream_decisions_equal_full_sequence(thinking):
    model = SalmonnOmni(load_config("tiny", [f"thinking={thinking}"])).eval()
    mic = toy_dialogue(3, blocks=40)[1]["mic"][: 30 * BLOCK_SAMPLES]
    st, owns, outs = _stream(model, mic)
    tokens = np.array(st.tokens)
    assert len(set(tokens.tolist())) > 1  # a random model still makes several kinds of decisions
    np.testing.assert_array_equal(model.decide_full(mic, owns, tokens), tokens)


def test_forced_text_plays_audio_exactly_d_blocks_later(tiny):
    """Teacher-forced target tokens: audio block j is non-silent exactly when the target says it is audible
    (the <shift> sits SYNTH_DELAY_BLOCKS before the audio state change); listening blocks are exact zeros."""
    from model.targets import build_targets

    dlg, audio = toy_dialogue(0, blocks=40)
    tg = build_targets(dlg, tiny.tokenizer)
    st = tiny.new_state()
    own, played = np.zeros(BLOCK_SAMPLES, np.float32), [np.zeros(BLOCK_SAMPLES, np.float32)]
    states, texts = [], []
    for k in range(dlg.num_frames - 1):
        r = tiny.step(st, audio["mic"][k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES], own, force=int(tg.tokens[k]))
        own = r.audio
        played.append(r.audio)  # step k plays block k+1
        states.append(r.state)
        texts.append(r.text or "")
    loud = np.array([np.abs(p).max() > 0 for p in played])
    np.testing.assert_array_equal(loud, tg.audible.astype(bool))
    assert all(np.isfinite(p).all() and p.dtype == np.float32 for p in played)
    assert states.count(SHIFT) == 2 and THINK in states and "text" in states
    assert "".join(texts) == tiny.tokenizer.decode([t for t in tg.tokens if t < tiny.base_vocab])


def test_stream_without_synthesizer_decides_the_same_and_plays_silence(tiny):
    """synthesize=False (a TTS voice plays the text instead): same tokens and text for the same heard audio, and
    every block silent; fed the same own-channel audio, since the adapter plays its voice there."""
    mic = toy_dialogue(1, blocks=40)[1]["mic"][: 30 * BLOCK_SAMPLES]
    st, owns, outs = _stream(tiny, mic)
    quiet = tiny.new_state(0, synthesize=False)
    for k, r in enumerate(outs):
        block = slice(k * BLOCK_SAMPLES, (k + 1) * BLOCK_SAMPLES)
        q = tiny.step(quiet, mic[block], owns[block])
        assert (q.token, q.text) == (r.token, r.text) and not q.audio.any()
    assert quiet.tokens == st.tokens


def test_barge_in_shift_silences_the_stream_from_the_next_block():
    """Speak->listen is immediate: teacher-forced on an interrupted answer's targets, the stream plays exactly the
    blocks the training forward's synthesizer mask (``audible`` of make_batch) scores, the closing <shift> sits in
    the decision's block, and every block after it is an exact zero."""
    from datagen.schema import frame_of
    from model.targets import build_targets, make_batch
    from tests.model_fixtures import interrupted_toy_dialogue

    model = SalmonnOmni(load_config("tiny")).eval()
    dlg, audio = interrupted_toy_dialogue(0, blocks=48)
    tg = build_targets(dlg, model.tokenizer)
    kd = frame_of(dlg.events_of("interruption")[0].decision)
    assert np.flatnonzero(tg.tokens == model.shift_id)[-1] == kd
    st = model.new_state()
    own, played, greedy = np.zeros(BLOCK_SAMPLES, np.float32), [np.zeros(BLOCK_SAMPLES, np.float32)], []
    for k in range(dlg.num_frames - 1):
        r = model.step(st, audio["mic"][k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES], own, force=int(tg.tokens[k]))
        own = r.audio
        played.append(r.audio)
        allowed = model.allowed(torch.tensor(st.modes[-2] if len(st.modes) > 1 else 0))
        greedy.append(int(r.logits.masked_fill(~allowed, float("-inf")).argmax()))
    loud = np.array([np.abs(p).max() > 0 for p in played])
    np.testing.assert_array_equal(loud, make_batch([(dlg, audio)], model.tokenizer)["audible"][0].astype(bool))
    assert loud[kd] and not loud[kd + 1:].any()
    # the full forward, teacher-forced on the same tokens and own audio, decides what the stream would have
    T = dlg.num_frames - 1
    full = model.decide_full(audio["mic"], np.concatenate(played[:T]), tg.tokens[:T])
    np.testing.assert_array_equal(full, greedy)


def test_adapter_sessions_reset_completely(tmp_path, tiny):
    from model.checkpoint import save_checkpoint

    save_checkpoint(tiny, tmp_path / "ck")
    audio = toy_dialogue(2, blocks=40)[1]
    adapter = load_model("salmonn-omni", checkpoint=str(tmp_path / "ck"), threads=1)
    assert adapter.info.text and adapter.info.state and adapter.info.block_samples == BLOCK_SAMPLES
    a_mic = toy_dialogue(5, blocks=40)[1]["mic"][: 20 * BLOCK_SAMPLES]
    b_mic = audio["mic"][: 30 * BLOCK_SAMPLES]

    def run(sess, mic):
        outs = [sess.step(mic[k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES]) for k in range(len(mic) // BLOCK_SAMPLES)]
        sess.close()
        return outs

    run(adapter.open_session(SessionInfo("a", "t")), a_mic)
    after_a = run(adapter.open_session(SessionInfo("b", "t")), b_mic)
    fresh = run(load_model("salmonn-omni", checkpoint=str(tmp_path / "ck")).open_session(SessionInfo("b", "t")), b_mic)
    assert [(o.state, o.text) for o in after_a] == [(o.state, o.text) for o in fresh]
    for x, y in zip(after_a, fresh):
        assert x.audio.dtype == np.float32 and x.audio.shape == (BLOCK_SAMPLES,) and np.isfinite(x.audio).all()
        np.testing.assert_array_equal(x.audio, y.audio)
    assert len({o.state for o in fresh}) > 1  # the random model does more than listen


def test_adapter_bad_input_is_one_line(tmp_path):
    from model.cli import init_checkpoint

    init_checkpoint("tiny", str(tmp_path / "ck"))
    with pytest.raises(ValueError, match="16000 Hz") as e:
        load_model("salmonn-omni", checkpoint=str(tmp_path / "ck"), sample_rate=24000, block_samples=1920)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown option"):
        load_model("salmonn-omni", checkpoint=str(tmp_path / "ck"), temperature=0.7)
    with pytest.raises(RuntimeError, match="expected config.yaml"):
        load_model("salmonn-omni", checkpoint=str(tmp_path / "missing"))
    sess = load_model("salmonn-omni", checkpoint=str(tmp_path / "ck")).open_session(SessionInfo("x", "t"))
    with pytest.raises(ValueError, match="expected \\(1280,\\)") as e:
        sess.step(np.zeros(640, np.float32))
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="NaN"):
        sess.step(np.full(BLOCK_SAMPLES, np.nan, np.float32))


def test_lora_merge_keeps_decisions_and_int8_streams():
    """prepare_inference merges LoRA (non-zero adapters here) without changing logits; int8 still streams."""
    model = SalmonnOmni(load_config("tiny", ["backbone.lora.rank=4"])).eval()
    assert model.param_counts()["lora"] > 0
    with torch.no_grad():
        for name, p in model.lm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    mic = toy_dialogue(4, blocks=40)[1]["mic"][: 20 * BLOCK_SAMPLES]
    st, _, outs = _stream(model, mic)
    model.prepare_inference()
    assert model.param_counts()["lora"] == 0
    st2, _, outs2 = _stream(model, mic)
    assert st.tokens == st2.tokens
    for a, b in zip(outs, outs2):
        torch.testing.assert_close(a.logits, b.logits, atol=1e-4, rtol=1e-4)
    model.prepare_inference("int8")
    st3, _, outs3 = _stream(model, mic)
    assert all(o.audio.shape == (BLOCK_SAMPLES,) for o in outs3)
