"""benchmark.models.cascade: the vad_cascade baseline driven by hand, block by block (fast tests use the bank lookup
responder ``llm="echo"``; the SmolLM2 ones are marked slow)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pocketsphinx")
pytest.importorskip("silero_vad")

from benchmark.models.cascade import BLOCK, EchoResponder, VadCascadeModel, run_blocks  # noqa: E402
from benchmark.protocol import ModelInfo, SessionInfo
from benchmark.models import load_model  # noqa: E402

SR = 16_000
LEAD = 8000  # 0.5 s of silence before the user speaks


@pytest.fixture(scope="module")
def tts():
    from datagen.tts import get_backend

    return get_backend("espeak")


@pytest.fixture(scope="module")
def question(tts):
    from datagen.tts import USER_VOICES

    return tts.synthesize("What is the capital of France?", USER_VOICES[0]).audio


@pytest.fixture(scope="module")
def echo_model():
    return VadCascadeModel(llm="echo")


def _mic(question: np.ndarray, tail_s: float = 8.0) -> np.ndarray:
    return np.concatenate([np.zeros(LEAD, np.float32), question, np.zeros(int(SR * tail_s), np.float32)])


def _active_blocks(audio: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.abs(audio.reshape(-1, BLOCK)).max(axis=1) > 0)


def test_registry_entry_and_info():
    model = load_model("vad_cascade", llm="echo")
    assert isinstance(model, VadCascadeModel)
    assert model.info == ModelInfo(name="vad_cascade", text=True, state=False, version=model.info.version,
                                   extra=model.info.extra)
    with pytest.raises(ValueError):
        VadCascadeModel(llm="echo", think_blocks=-1)


def test_echo_responder_is_a_bank_lookup():
    r = EchoResponder()
    assert r("what is the capital of france").startswith("The capital of France is Paris.")
    assert r("purple monkey dishwasher") == "Sorry, I did not catch that."
    assert r("") == ""


def test_answers_after_the_user_and_streams_words(echo_model, question):
    s = echo_model.open_session(SessionInfo("q", "test"))
    out, texts, _ = run_blocks(s, _mic(question))
    s.close()
    assert len(s.turns) == 1 and "france" in s.turns[0].heard
    assert "Paris" in s.turns[0].reply
    active = _active_blocks(out)
    user_end_block = (LEAD + question.size) / BLOCK
    assert active.size > 20
    assert active[0] >= user_end_block + 4  # after the user's end plus (most of) the 600 ms endpoint
    assert active[0] <= user_end_block + 12
    words = [t for t in texts if t]
    assert "Paris" in " ".join(words) and len(words) >= 10
    first_text = next(k for k, t in enumerate(texts) if t)
    assert first_text >= active[0]
    assert all(isinstance(o, np.ndarray) and o.dtype == np.float32 for o in [out])
    assert np.isfinite(out).all()


def test_barge_in_stops_within_half_a_second(echo_model, question, tts):
    from datagen.tts import USER_VOICES

    s = echo_model.open_session(SessionInfo("b", "test"))
    first = _mic(question, tail_s=1.0)
    out1, _, _ = run_blocks(s, first)
    assert s.mode == "speak", s.mode  # answering by now
    n_before = out1.size // BLOCK
    # keep listening to silence for 1 s while it talks, then the user interrupts
    out2, _, _ = run_blocks(s, np.zeros(SR, np.float32))
    assert _active_blocks(out2).size > 5
    interrupt = tts.synthesize("wait, stop, hold on a second please", USER_VOICES[1]).audio
    out3, texts3, _ = run_blocks(s, np.concatenate([interrupt, np.zeros(SR // 2, np.float32)]))
    onset_block = n_before + out2.size // BLOCK
    assert s.barge_ins, "it never stopped"
    stop = s.barge_ins[0]
    assert onset_block <= stop <= onset_block + int(0.5 / 0.08)
    # silent from the stop until the interruption is over
    speech_end = (interrupt.size // BLOCK) - 1
    assert not np.abs(out3.reshape(-1, BLOCK)[stop - onset_block + 0: speech_end]).any()
    assert not any(texts3[stop - onset_block: speech_end])
    s.close()


def test_reset_between_sessions_is_deterministic(echo_model, question, tts):
    from datagen.tts import USER_VOICES

    mic = _mic(question, tail_s=4.0)
    s1 = echo_model.open_session(SessionInfo("d1", "test"))
    a1, t1, _ = run_blocks(s1, mic)
    s1.close()
    # a different dialogue in between must leave no trace
    other = tts.synthesize("How many legs does a spider have?", USER_VOICES[2]).audio
    s2 = echo_model.open_session(SessionInfo("x", "test"))
    run_blocks(s2, _mic(other, tail_s=1.0))
    s2.close()
    s3 = echo_model.open_session(SessionInfo("d1", "test"))
    a3, t3, _ = run_blocks(s3, mic)
    s3.close()
    assert np.array_equal(a1, a3) and t1 == t3
    assert _active_blocks(a1).size > 0


def test_think_blocks_delays_the_answer(question):
    fixed = VadCascadeModel(llm="echo", think_blocks=5)
    base = VadCascadeModel(llm="echo")
    mic = _mic(question, tail_s=3.0)
    a, _, _ = run_blocks(base.open_session(SessionInfo("t", "test")), mic)
    b, _, _ = run_blocks(fixed.open_session(SessionInfo("t", "test")), mic)
    assert _active_blocks(b)[0] == _active_blocks(a)[0] + 5
    auto = VadCascadeModel(llm="echo", think_blocks=True)
    s = auto.open_session(SessionInfo("t", "test"))
    c, _, _ = run_blocks(s, _mic(question, tail_s=20.0))  # room for a loaded machine's delay
    delay = s.turns[0].delay_blocks
    assert delay == int(np.ceil(s.turns[0].compute_s / 0.08)) and delay >= 1
    assert _active_blocks(c)[0] == _active_blocks(a)[0] + delay


def test_smollm2_responder_generates_each_distinct_text_once(monkeypatch):
    """Echo loops re-ask the same words: the second ask is the first reply at the first cost, not a new generation."""
    import datagen.common.llm as llm
    from benchmark.models import cascade

    calls: list[str] = []
    monkeypatch.setattr(cascade, "_load_llm", lambda name: (None, None))
    monkeypatch.setattr(llm, "chat_greedy", lambda tok, lm, messages, n: calls.append(messages[-1]["content"])
                        or f"You said {messages[-1]['content']}. Fine. More.")
    r = cascade.SmolLMResponder(max_sentences=2)
    first = r.respond("i'm ready")
    assert first[0] == "You said i'm ready. Fine." and first[1] >= 0.0
    assert r.respond("i'm ready") == first and r("i'm ready") == first[0]
    assert r.respond("hello") != first and r.respond("") == ("", 0.0)
    assert calls == ["i'm ready", "hello"]


def test_silence_gets_no_answer(echo_model):
    s = echo_model.open_session(SessionInfo("s", "test"))
    out, texts, _ = run_blocks(s, np.zeros(SR * 3, np.float32))
    assert not out.any() and not any(texts) and s.turns == []
    with pytest.raises(ValueError):
        s.step(np.zeros(100, np.float32))


@pytest.mark.slow
def test_smollm2_cascade_answers(question):
    pytest.importorskip("transformers")
    model = VadCascadeModel()  # llm="smollm2"
    s = model.open_session(SessionInfo("llm", "test"))
    out, texts, _ = run_blocks(s, _mic(question, tail_s=12.0))
    s.close()
    assert len(s.turns) == 1 and s.turns[0].reply
    assert len(s.turns[0].reply.split()) <= 60
    assert _active_blocks(out).size > 5 and any(texts)
    # deterministic: greedy decoding
    s2 = model.open_session(SessionInfo("llm", "test"))
    out2, texts2, _ = run_blocks(s2, _mic(question, tail_s=12.0))
    assert np.array_equal(out, out2) and texts == texts2
