"""The streaming speech encoder: causal log-mel (10 ms hop) -> causal conv subsampling -> Mamba2 stack.

Every stage is causal with an explicit carried state, so encoding a dialogue block by block gives the same
embeddings as encoding it at once (tested): the log-mel keeps the last ``n_fft - hop`` samples, each strided
convolution keeps its last ``kernel - 1`` input frames, and the Mamba2 stack keeps its conv and SSM states in a
transformers cache.  In streaming, frames go through Mamba2 one at a time: transformers' pure-PyTorch chunked
scan costs ~8 ms per layer per call on a CPU, while its single-step recurrent form costs ~1.5 ms (measured on
2 cores); on a GPU with mamba-ssm / causal-conv1d installed, transformers picks the fused kernels itself.
(transformers' ``MambaModel`` v1 silently resets its state when a cached call gets more than one frame, hence
Mamba2.)  The environment and assistant streams share this encoder and are encoded as a batch of two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from datagen.schema import SAMPLE_RATE

from .config import EncoderConfig


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft//2+1) HTK-style triangular filters from 0 Hz to Nyquist (no librosa dependency)."""
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    mel_to_hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    pts = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)), dtype=np.float64)
    for i in range(n_mels):
        lo, mid, hi = pts[i], pts[i + 1], pts[i + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        fb[i] = np.maximum(0.0, np.minimum(up, down))
    fb *= (2.0 / (pts[2:] - pts[:-2]))[:, None]  # equal-area (slaney) normalisation
    return fb.astype(np.float32)


class LogMel(nn.Module):
    """Causal log-mel: frame ``i`` ends at sample ``hop*(i+1)`` (zeros before the start), so block ``k`` of 1280
    samples yields exactly frames ``8k..8k+7`` and needs only the previous ``n_fft - hop`` samples as state.

    Values are log10 power, shifted and scaled to roughly [-1, 1] with fixed constants (no per-utterance max,
    which would not be causal)."""

    def __init__(self, n_mels: int = 80, n_fft: int = 400, hop: int = 160) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(n_mels, n_fft)), persistent=False)

    @property
    def context(self) -> int:
        return self.n_fft - self.hop

    def frames(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, context + n*hop) samples -> (B, n, n_mels)."""
        windows = padded.unfold(-1, self.n_fft, self.hop) * self.window
        # re*re + im*im: |z|^2 without abs()'s square root squared again (measured 54 -> 21 ms for 12 x 16 s on one
        # core; a .pow(2).sum(-1) over the (re, im) pair is a slow strided reduction)
        z = torch.view_as_real(torch.fft.rfft(windows, dim=-1))
        power = z[..., 0] * z[..., 0] + z[..., 1] * z[..., 1]
        mel = power @ self.fb.T
        return (torch.log10(mel.clamp_min(1e-10)) + 4.0) / 4.0

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) with N a multiple of hop -> (B, N/hop, n_mels)."""
        return self.frames(nn.functional.pad(audio, (self.context, 0)))

    def step(self, audio: torch.Tensor, tail: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if tail is None:
            tail = audio.new_zeros(audio.shape[0], self.context)
        padded = torch.cat([tail, audio], dim=-1)
        return self.frames(padded), padded[:, -self.context:]


class CausalConv(nn.Module):
    """Strided Conv1d over time with ``kernel-1`` frames of left context (zeros at the start, state in streaming).

    Output ``j`` sees input frames ``stride*j - (kernel-1) .. stride*j``; since a block's frame count is a multiple
    of the stride, block boundaries fall on output boundaries and a chunk needs exactly ``kernel-1`` frames of
    history."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride=stride)

    def forward(self, x: torch.Tensor, tail: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, T); returns (y, new tail)."""
        if tail is None:
            tail = x.new_zeros(x.shape[0], x.shape[1], self.kernel - 1)
        padded = torch.cat([tail, x], dim=-1)
        # the output grid starts at the first real frame: drop leading pad so output j is anchored at frame s*j
        y = self.conv(padded)
        return y, padded[:, :, padded.shape[-1] - (self.kernel - 1):]


@dataclass
class EncoderState:
    """Everything the encoder carries across blocks (one per session; batch = streams)."""

    mel_tail: torch.Tensor | None = None
    conv_tails: list[Any] | None = None
    mamba_cache: Any = None


# Mamba2's chunked scan (the pure-PyTorch path) is quadratic inside a chunk: 16 frames (0.64 s) per chunk cost
# ~30% less than transformers' default 64 on a 16 s window (CPU, forward; results equal up to float rounding).
CHUNK_FRAMES = 16


def cache_kwarg(module: nn.Module, old: str) -> str:
    """The keyword a transformers model takes its cache by: ``cache`` from transformers 5.x on (the old names,
    ``past_key_values`` / ``cache_params``, still work there but warn that they are deprecated), else ``old``."""
    import inspect

    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return old
    return "cache" if "cache" in params else old


def returned_cache(out):
    """The cache a forward returned (``out.cache`` in transformers 5.x, ``out.past_key_values`` before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def quiet_kernel_fallback() -> None:
    """Silence transformers' one-time notes that the Mamba2 kernels fall back to their PyTorch reference (once,
    here).  On a CPU that path is the design (ARCHITECTURE.md: mamba-ssm / causal-conv1d are used automatically on a
    GPU where installed), so the four notes per process are noise; with CUDA present they are left on, since there
    they say something worth acting on."""
    import logging

    import torch

    if not torch.cuda.is_available():
        logging.getLogger("transformers.integrations.hub_kernels").setLevel(logging.ERROR)


class StreamingEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        from transformers import Mamba2Config, Mamba2Model

        self.cfg = cfg
        self.mel = LogMel(cfg.n_mels, cfg.n_fft, cfg.hop)
        n_convs = int(round(math.log2(cfg.subsample)))
        convs, c = [], cfg.n_mels
        for _ in range(n_convs):
            convs.append(CausalConv(c, cfg.conv_channels, cfg.conv_kernel, 2))
            c = cfg.conv_channels
        self.convs = nn.ModuleList(convs)
        self.proj = nn.Linear(c, cfg.d_model)
        inner = cfg.expand * cfg.d_model
        self.mamba_config = Mamba2Config(
            hidden_size=cfg.d_model,
            num_hidden_layers=cfg.n_layers,
            state_size=cfg.state_size,
            expand=cfg.expand,
            head_dim=cfg.head_dim,
            num_heads=inner // cfg.head_dim,
            n_groups=1,
            conv_kernel=cfg.mamba_conv_kernel,
            chunk_size=CHUNK_FRAMES,
            vocab_size=1,
            pad_token_id=None,
            bos_token_id=None,
            eos_token_id=None,
            use_cache=True,
            tie_word_embeddings=False,
        )
        self.mamba = Mamba2Model(self.mamba_config)
        self.mamba.embeddings = None  # inputs_embeds only: no vocabulary
        self._cache_kw = cache_kwarg(self.mamba, "cache_params")
        quiet_kernel_fallback()
        self.out_dim = cfg.d_model

    def _front(self, mel: torch.Tensor, tails: list | None) -> tuple[torch.Tensor, list]:
        x = mel.transpose(1, 2)
        new_tails = []
        for i, conv in enumerate(self.convs):
            x, t = conv(x, None if tails is None else tails[i])
            x = nn.functional.gelu(x)
            new_tails.append(t)
        return self.proj(x.transpose(1, 2)), new_tails

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) samples, N a multiple of a block -> (B, N/hop/subsample, d_model): the full-sequence path."""
        return self.encode_mel(self.mel(audio))

    def encode_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` from its log-mel (B, N/hop, n_mels): training reuses the assistant channel's log-mel as
        the synthesizer's target instead of computing it twice."""
        x, _ = self._front(mel, None)
        return self.mamba(inputs_embeds=x, use_cache=False).last_hidden_state

    @torch.no_grad()
    def step(self, audio: torch.Tensor, state: EncoderState) -> torch.Tensor:
        """One block per stream, (B, 1280) -> (B, frames_per_block, d_model); ``state`` is updated in place."""
        from transformers import DynamicCache

        mel, state.mel_tail = self.mel.step(audio, state.mel_tail)
        x, state.conv_tails = self._front(mel, state.conv_tails)
        if state.mamba_cache is None:
            state.mamba_cache = DynamicCache(config=self.mamba_config)
        outs = []
        for t in range(x.shape[1]):
            out = self.mamba(inputs_embeds=x[:, t : t + 1], **{self._cache_kw: state.mamba_cache}, use_cache=True)
            outs.append(out.last_hidden_state)
        return torch.cat(outs, dim=1)
