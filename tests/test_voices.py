"""Voices: espeak-ng in process with word timings that match the audio, distinct voices, determinism whatever was
said before, the cache, and the optional / recordings backends failing or skipping cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from datagen.levels import SPEECH_RMS
from datagen.tts import (
    ASSISTANT_VOICE,
    THIRD_VOICES,
    USER_VOICES,
    BackendUnavailable,
    CachedTTS,
    EspeakVoice,
    get_backend,
)
from datagen.tts.coqui import CoquiBackend
from datagen.tts.espeak import EspeakBackend
from datagen.tts.postprocess import tokens
from datagen.tts.recordings import RecordingsBackend

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


def _check_spans(u, text):
    assert u.audio.dtype == np.float32 and u.audio.ndim == 1 and len(u.audio) > 0
    assert [w.text for w in u.words] == [t for t, _, _ in tokens(text)]
    for w in u.words:
        assert 0 <= w.start <= w.end <= len(u.audio)
    for a, b in zip(u.words, u.words[1:]):
        assert a.end <= b.start


def test_every_token_gets_one_word_on_tricky_text(tts):
    # Numbers read as several words, hyphens, abbreviations, a dash, quotes, a punctuation-only token, non-ASCII.
    text = "Mr. Smith's e-mail: it costs $5,000 -- \"uh-huh\" -- at 7:45, déjà vu, naïve café!"
    u = tts.synthesize(text, ASSISTANT_VOICE)
    _check_spans(u, text)
    assert [w.text for w in u.words][:5] == ["Mr", "Smith's", "e-mail", "it", "costs"]
    spoken = [w for w in u.words if w.text not in ("--",)]
    assert all(w.end > w.start for w in spoken)  # every real word holds some speech
    assert len({w.start for w in spoken}) == len(spoken)


def test_voice_pools_and_levels(tts):
    assert len(set(USER_VOICES)) == len(USER_VOICES) >= 10 and len(set(THIRD_VOICES)) >= 4
    assert ASSISTANT_VOICE not in USER_VOICES and ASSISTANT_VOICE not in THIRD_VOICES
    assert tts.voices() == list(dict.fromkeys(USER_VOICES + THIRD_VOICES + (ASSISTANT_VOICE,)))
    for name in USER_VOICES:
        v = EspeakVoice.parse(name)
        assert 30 <= v.pitch <= 75 and 150 <= v.rate <= 190 and v.variant
    assert len({EspeakVoice.parse(v).base for v in USER_VOICES}) >= 4  # several accents
    assert {EspeakVoice.parse(v).variant[0] for v in USER_VOICES} == {"m", "f"}  # male and female variants
    for name in (ASSISTANT_VOICE, *THIRD_VOICES, USER_VOICES[4]):
        a = tts.synthesize("Turn left at the second light, then keep going.", name).audio.astype(np.float64)
        frames = a[: len(a) // 160 * 160].reshape(-1, 160)
        power = (frames**2).mean(axis=1)
        voiced = power[10 * np.log10(power + 1e-12) >= 10 * np.log10(power.max()) - 40]
        assert abs(np.sqrt(voiced.mean()) - SPEECH_RMS) < 0.002 and np.abs(a).max() <= 1.0


def test_any_well_formed_voice_with_shipped_parts_is_accepted(tts):
    u = tts.synthesize("hello there", "en-gb-x-rp+m1:p40:r150")  # not in any pool
    _check_spans(u, "hello there")
    for bad in ("en-us+nosuchvariant", "xx-nope+m1", "en-us+f3:p200", "not a voice"):
        with pytest.raises(ValueError) as info:
            tts.synthesize("hi", bad)
        msg = str(info.value)
        assert msg.startswith(f"unknown voice {bad!r} for backend espeak") and "known: " in msg and "\n" not in msg


def _synth_bytes(text: str, voice: str) -> bytes:  # runs in a spawned process
    return EspeakBackend().synthesize(text, voice).audio.tobytes()


def test_spawned_process_gives_the_same_bytes(tts):
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        child = pool.apply(_synth_bytes, (TEXT, USER_VOICES[5]))
    assert child == tts.synthesize(TEXT, USER_VOICES[5]).audio.tobytes()


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
    cached = CachedTTS(tts, max_items=2, disk=False)  # the in-memory LRU (the disk cache: tests/test_piper.py)
    before = tts.cpu_seconds
    a = cached.synthesize("okay", USER_VOICES[0])
    assert cached.synthesize("okay", USER_VOICES[0]) is a and (cached.hits, cached.misses) == (1, 1)
    assert cached.cpu_seconds == tts.cpu_seconds > before and cached.name == "espeak"
    with pytest.raises(ValueError):
        a.audio[0] = 1.0  # cached utterances are immutable
    cached.synthesize("yes", USER_VOICES[0])
    cached.synthesize("no", USER_VOICES[0])  # evicts "okay" (least recently used)
    assert cached.synthesize("okay", USER_VOICES[0]) is not a and cached.misses == 4
    with pytest.raises(ValueError, match="unknown voice"):
        tts.synthesize("hi", "en-us+nosuchvariant")
    known = r"\(known: espeak, piper, coqui, recordings\)$"
    with pytest.raises(ValueError, match=r"^tts.backend: unknown TTS backend 'festival' " + known):
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
    assert any(s.startswith("line 5: bad JSON") for s in rec.skipped)
    assert all("\n" not in s for s in rec.skipped)
    ub = rec.synthesize("okay thanks!", "bob")  # the 44.1 kHz stereo take, resampled
    assert ub.voice == "bob" and [w.text for w in ub.words] == ["Okay", "thanks"]
    assert abs(len(ub.audio) - len(b)) < 800 and ub.audio.dtype == np.float32
    u = rec.synthesize("what is the capital of france", "bob")  # only ann said it: her recording is used
    assert u.voice == "ann" and len(u.words) == 6 and abs(len(u.audio) - len(a)) < 1600
    assert rec.fallbacks == 0
    rec.synthesize("a line nobody recorded", "ann")
    assert rec.fallbacks == 1
    (tmp_path / "empty.jsonl").write_text(json.dumps(lines[2]) + "\n")
    with pytest.raises(ValueError, match="no usable recordings"):
        RecordingsBackend(str(tmp_path / "empty.jsonl"))


def test_recordings_word_times_from_manifest_and_more_broken_entries(tts, tmp_path):
    a = tts.synthesize("hello there", USER_VOICES[0]).audio
    sf.write(tmp_path / "a.wav", np.concatenate([np.zeros(8000, np.float32), a]), 16000)  # 0.5 s lead-in
    nan = a.copy()
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    words = [{"text": "hello", "start": 0.55, "end": 0.8}, {"text": "there", "start": 0.85, "end": 1.0}]
    lines = [
        json.dumps({"path": "a.wav", "text": "Hello there.", "speaker": "cy", "words": words}),
        json.dumps({"path": "nan.wav", "text": "hello", "speaker": "cy"}),
        json.dumps({"path": "silent.wav", "text": "hello", "speaker": "cy"}),
        json.dumps({"text": "no path", "speaker": "cy"}),
        json.dumps({"path": "a.wav", "text": "three words here", "speaker": "cy", "words": words}),
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    rec = get_backend("recordings", manifest=str(tmp_path / "m.jsonl"))
    assert len(rec.skipped) == 4, rec.skipped
    assert "NaN" in rec.skipped[0] and "silent" in rec.skipped[1] and "missing field path" in rec.skipped[2]
    assert "'words' has 2 entries" in rec.skipped[3]
    u = rec.synthesize("hello there", "cy")
    # Trimming the 0.5 s lead-in shifts the manifest's times with the audio; the spans keep their lengths.
    assert 0 < u.words[0].start <= int(0.55 * 16000) - 7000
    assert [(w.end - w.start) for w in u.words] == [4000, 2400]
    assert u.words[1].start - u.words[0].start == int(0.3 * 16000)
