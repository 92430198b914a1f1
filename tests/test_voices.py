"""Voices: espeak-ng in process with word timings that match the audio, distinct voices, determinism whatever was
said before, the cache, and the optional / recordings backends failing or skipping cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from datagen.voices import (
    ASSISTANT_VOICE,
    THIRD_VOICES,
    USER_VOICES,
    BackendUnavailable,
    CachedTTS,
    CoquiBackend,
    EspeakBackend,
    RecordingsBackend,
    get_backend,
)

TEXT = "What is the capital of France? I think it might be Paris."


@pytest.fixture(scope="module")
def tts() -> EspeakBackend:
    return EspeakBackend()


def test_utterance_shape_and_word_timings(tts):
    u = tts.synthesize(TEXT, USER_VOICES[0])
    assert u.audio.dtype == np.float32 and not u.audio.flags.writeable
    assert [w.text for w in u.words] == ["What", "is", "the", "capital", "of", "France", "I", "think", "it", "might", "be", "Paris"]
    for a, b in zip(u.words, u.words[1:]):
        assert 0 <= a.start <= a.end <= b.start <= len(u.audio)
    # The words cover the speech: almost all energy lies inside word spans, and the sentence pause is outside.
    inside = np.zeros(len(u.audio), bool)
    for w in u.words:
        inside[w.start : w.end] = True
    energy = u.audio.astype(np.float64) ** 2
    assert energy[inside].sum() / energy.sum() >= 0.97
    assert u.words[6].start - u.words[5].end >= 1600  # "France? | I": at least 100 ms of pause between them


def test_voices_are_distinct(tts):
    assert len(USER_VOICES) >= 8 and ASSISTANT_VOICE not in USER_VOICES and ASSISTANT_VOICE not in THIRD_VOICES
    outs = [tts.synthesize("Hello, how are you today?", v).audio for v in USER_VOICES]
    lengths = {len(a) for a in outs}
    assert len(lengths) >= 6
    pitches = []
    for a in outs:  # dominant period by autocorrelation over the loudest 100 ms
        seg = a[int(np.argmax(np.abs(a))) // 1600 * 1600 :][:1600].astype(np.float64)
        ac = np.correlate(seg, seg, "full")[len(seg) - 1 :]
        pitches.append(int(np.argmax(ac[40:400])) + 40)
    assert len(set(pitches)) >= 5


def test_same_text_same_bytes_whatever_came_before(tts):
    first = tts.synthesize(TEXT, USER_VOICES[1]).audio.copy()
    for v in (ASSISTANT_VOICE, *THIRD_VOICES):
        tts.synthesize("Something else, said by someone else entirely.", v)
    assert np.array_equal(tts.synthesize(TEXT, USER_VOICES[1]).audio, first)
    assert np.array_equal(EspeakBackend().synthesize(TEXT, USER_VOICES[1]).audio, first)


def test_cache_and_errors(tts):
    cached = CachedTTS(tts)
    a = cached.synthesize("okay", USER_VOICES[0])
    assert cached.synthesize("okay", USER_VOICES[0]) is a and (cached.hits, cached.misses) == (1, 1)
    with pytest.raises(ValueError, match="unknown voice"):
        tts.synthesize("hi", "en-us+nosuchvariant")
    with pytest.raises(ValueError, match="unknown TTS backend 'festival'"):
        get_backend("festival")
    with pytest.raises(ValueError, match="unknown option 'speed'"):
        get_backend("espeak", speed=2)


def test_coqui_unavailable_is_one_clear_line():
    try:
        import TTS  # noqa: F401

        pytest.skip("coqui TTS is installed")
    except ImportError:
        pass
    with pytest.raises(BackendUnavailable) as info:
        CoquiBackend(model_path="m.pth", config_path="c.json")
    assert "pip install 'duplexkit[coqui]'" in str(info.value) and "\n" not in str(info.value)


def test_recordings_backend(tts, tmp_path):
    a = tts.synthesize("what is the capital of france", USER_VOICES[2]).audio
    b = tts.synthesize("okay thanks", USER_VOICES[3]).audio
    sf.write(tmp_path / "a.wav", a, 16000)
    from scipy.signal import resample_poly

    b44 = resample_poly(b, 441, 160).astype(np.float32)
    sf.write(tmp_path / "b.wav", np.stack([b44, b44], axis=1), 44100)
    (tmp_path / "bad.wav").write_bytes(np.random.default_rng(0).bytes(2000))
    lines = [
        {"path": "a.wav", "text": "What is the capital of France?", "speaker": "ann"},
        {"path": "b.wav", "text": "Okay, thanks.", "speaker": "bob"},
        {"path": "missing.wav", "text": "hello", "speaker": "ann"},
        {"path": "bad.wav", "text": "broken", "speaker": "bob"},
    ]
    manifest = tmp_path / "rec.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n{oops\n")
    rec = RecordingsBackend(str(manifest), fallback=tts)
    assert rec.voices() == ["ann", "bob"] and len(rec.skipped) == 3
    assert any("missing file" in s for s in rec.skipped) and any("corrupt audio" in s for s in rec.skipped)
    u = rec.synthesize("what is the capital of france", "bob")  # only ann said it: her recording is used
    assert u.voice == "ann" and len(u.words) == 6 and abs(len(u.audio) - len(a)) < 1600
    assert rec.fallbacks == 0
    rec.synthesize("a line nobody recorded", "ann")
    assert rec.fallbacks == 1
    (tmp_path / "empty.jsonl").write_text(json.dumps(lines[2]) + "\n")
    with pytest.raises(ValueError, match="no usable recordings"):
        RecordingsBackend(str(tmp_path / "empty.jsonl"))
