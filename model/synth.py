"""Codec-free streaming synthesizer: LLM hidden states -> linear adapter -> acoustic decoder -> audio.

No audio codec tokens ever enter the LLM (SALMONN-omni's design): the synthesizer reads one LLM layer's hidden
state per block, ``SYNTH_DELAY_BLOCKS`` behind the text, through a linear adapter.  The default backend is a small
trainable acoustic decoder (a GRU emitting the 8 log-mel frames of one 80 ms block) with a streaming Griffin-Lim
vocoder, so it trains and runs anywhere with nothing to download; CosyVoice2 (local weights) sits behind the same
``step`` interface as an optional backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from datagen.schema import BLOCK_SAMPLES

from .config import ModelConfig
from .encoder import mel_filterbank


class MelDecoder(nn.Module):
    """Hidden state (per block) -> 8 log-mel frames (per block), causal GRU; the same module in training (a whole
    sequence) and streaming (one block, carried GRU state), so both paths agree exactly."""

    def __init__(self, d_llm: int, cfg: ModelConfig) -> None:
        super().__init__()
        s = cfg.synth
        self.frames = cfg.mel_frames_per_block
        self.n_mels = s.n_mels
        self.adapter = nn.Linear(d_llm, s.d_model)  # the linear adapter of the paper
        self.rnn = nn.GRU(s.d_model, s.d_model, num_layers=s.n_layers, batch_first=True)
        self.out = nn.Linear(s.d_model, self.frames * s.n_mels)

    def forward(self, cond: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """cond (B, T, d_llm) -> log-mel (B, T, frames, n_mels), new GRU state."""
        x = torch.tanh(self.adapter(cond.float()))
        y, h = self.rnn(x, h)
        return self.out(y).view(cond.shape[0], cond.shape[1], self.frames, self.n_mels), h


@dataclass
class VocoderState:
    pending: np.ndarray  # overlap-add tail not yet final (n_fft - hop samples)
    pending_w: np.ndarray  # its window-power sum
    rng: np.random.Generator

    def silence(self) -> None:
        """A silent block: the overlap-add tail restarts from nothing (phases still come from ``rng``)."""
        self.pending[:] = 0.0
        self.pending_w[:] = 0.0


def mel_inverse(fb: np.ndarray) -> np.ndarray:
    """(n_mels, F) filterbank -> (n_mels, F) non-negative map from mel power back to linear power.

    Each linear bin gets the filter-weighted mean of the per-Hz power density of the mel bands that cover it.  Why
    not the pseudo-inverse: the narrow low filters make it ill-conditioned (entries up to 3e7 for 80 mels over a
    400-point FFT), so any error in a predicted log-mel (a decoder's over-smoothed output) came back as clipped
    full-scale noise that silero-vad did not call speech.  This map is exact for a spectrum that is flat within
    each filter and can never amplify an error (measured on a Piper sentence: smoothing its log-mel over 5 frames
    or 7 bands left silero's speech spans unchanged, where the pseudo-inverse gave RMS 0.5 and no speech)."""
    density = 1.0 / np.maximum(fb.sum(1, keepdims=True), 1e-12)  # mel power -> its filter's mean per-bin power
    return fb * density / np.maximum(fb.sum(0, keepdims=True), 1e-12)  # each bin: weighted mean over filters


class StreamingGriffinLim:
    """Log-mel frames -> audio, one 80 ms block at a time, with ``n_fft - hop`` samples (15 ms) of look-back latency.

    The frames follow the encoder's causal grid (frame ``i`` ends at sample ``hop*(i+1)``), so a block's 8 frames
    overlap-add into ``[1280k - 240, 1280k + 1280)``; the first 1280 samples are final (no later frame touches
    them) and are returned, the last 240 wait for the next block.  Phases are estimated by Griffin-Lim iterations
    over the new frames with the pending tail held fixed, which keeps block joins continuous.  Initial phases
    come from a per-session generator, so a session is deterministic and a reset repeats it exactly.
    """

    def __init__(self, n_mels: int, n_fft: int, hop: int, iters: int) -> None:
        self.n_fft, self.hop, self.iters = n_fft, hop, iters
        self.window = np.hanning(n_fft + 1)[:-1].astype(np.float64)
        self.inv_fb = mel_inverse(mel_filterbank(n_mels, n_fft).astype(np.float64))

    def new_state(self, seed: int = 0) -> VocoderState:
        tail = self.n_fft - self.hop
        return VocoderState(np.zeros(tail), np.zeros(tail), np.random.default_rng(seed))

    def _ola(self, frames: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        out, wsum = np.zeros(length), np.zeros(length)
        for j, f in enumerate(frames):
            out[j * self.hop : j * self.hop + self.n_fft] += f * self.window
            wsum[j * self.hop : j * self.hop + self.n_fft] += self.window**2
        return out, wsum

    def step(self, logmel: np.ndarray, st: VocoderState) -> np.ndarray:
        """(frames, n_mels) log-mel of one block -> BLOCK_SAMPLES float32 samples."""
        power = 10.0 ** (4.0 * logmel.astype(np.float64) - 4.0)
        mag = np.sqrt(power @ self.inv_fb)
        n = mag.shape[0]
        length = (n - 1) * self.hop + self.n_fft  # == tail + BLOCK_SAMPLES
        tail = len(st.pending)
        phase = st.rng.uniform(-np.pi, np.pi, size=mag.shape)
        for _ in range(self.iters + 1):
            frames = np.fft.irfft(mag * np.exp(1j * phase), n=self.n_fft)
            out, wsum = self._ola(frames, length)
            out[:tail] += st.pending
            wsum[:tail] += st.pending_w
            x = out / np.maximum(wsum, 1e-3)
            idx = np.arange(n)[:, None] * self.hop + np.arange(self.n_fft)[None, :]
            phase = np.angle(np.fft.rfft(x[idx] * self.window, axis=-1))
        keep = length - tail
        st.pending, st.pending_w = out[keep:].copy(), wsum[keep:].copy()
        audio = x[:keep]
        return np.clip(audio, -1.0, 1.0).astype(np.float32)


class CosyVoice2Synth:
    """Optional backend: CosyVoice2's flow-matching decoder + HiFT vocoder from local weights, fed by the same
    linear adapter.  Only checked for availability here (no weights in CI); the error says what to do."""

    def __init__(self, cfg: ModelConfig, d_llm: int) -> None:
        import importlib.util
        from pathlib import Path

        path = cfg.synth.cosyvoice_path
        if not path or not Path(path).is_dir():
            raise RuntimeError(
                f"synth.backend cosyvoice2: synth.cosyvoice_path {path!r} is not a local directory; "
                "put CosyVoice2-0.5B there (and pip install the cosyvoice package) or use synth.backend=mel"
            )
        if importlib.util.find_spec("cosyvoice") is None:
            raise RuntimeError(
                "synth.backend cosyvoice2: the 'cosyvoice' package is not installed; install it from "
                "github.com/FunAudioLLM/CosyVoice or use synth.backend=mel"
            )
        from cosyvoice.cli.cosyvoice import CosyVoice2  # type: ignore

        self.engine = CosyVoice2(path, load_jit=False, load_trt=False)
        token_dim = int(getattr(self.engine.model.flow, "input_embedding").embedding_dim)
        self.adapter = nn.Linear(d_llm, token_dim)

    def step(self, hidden: torch.Tensor) -> np.ndarray:  # pragma: no cover - needs local CosyVoice2 weights
        raise RuntimeError(
            "synth.backend cosyvoice2: streaming from LLM hidden states needs the adapter trained with "
            "`duplexkit train stage2`; this checkpoint has none (use synth.backend=mel)"
        )


def silence() -> np.ndarray:
    return np.zeros(BLOCK_SAMPLES, dtype=np.float32)
