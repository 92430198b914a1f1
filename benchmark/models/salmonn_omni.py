"""The ``salmonn-omni`` adapter of the benchmark protocol: a :mod:`model` checkpoint, streamed block by block.

Each ``step`` encodes the new mic block and the model's own last output block, advances the LLM one block with
its KV cache, decides ``<think>``/``<shift>``/text, advances the synthesizer and returns 1280 samples (zeros
while listening).  A session owns a fresh :class:`model.salmonn.StreamState`, so sessions reset completely.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.models import ModelError
from benchmark.protocol import ModelInfo, SessionInfo, StepOutput
from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE

from model.tokens import tokenizer_identity

KNOWN_OPTIONS = ("device", "threads", "sample_rate", "block_samples", "overrides", "quantize")


class SalmonnOmniSession:
    def __init__(self, model, info: SessionInfo) -> None:
        self.model = model
        self.info = info
        self.state = model.new_state(seed=int(info.seed))
        self.last_out = np.zeros(BLOCK_SAMPLES, np.float32)
        self.closed = False

    def step(self, mic_block: np.ndarray) -> StepOutput:
        if self.closed:
            raise RuntimeError("salmonn-omni: step() after close(); open a new session")
        block = np.asarray(mic_block)
        if block.ndim != 1 or block.shape[0] != BLOCK_SAMPLES:
            raise ValueError(
                f"salmonn-omni: mic block has shape {block.shape}, expected ({BLOCK_SAMPLES},) "
                f"(80 ms at {SAMPLE_RATE} Hz); resample to {SAMPLE_RATE} Hz and cut 80 ms blocks"
            )
        block = block.astype(np.float32, copy=False)
        if not np.isfinite(block).all():
            raise ValueError("salmonn-omni: mic block holds NaN or inf samples; clean the input audio")
        r = self.model.step(self.state, block, self.last_out)
        self.last_out = r.audio
        return StepOutput(audio=r.audio.copy(), text=r.text, state=r.state, token=int(r.token))

    def close(self) -> None:
        self.closed = True
        self.state = None


class SalmonnOmniModel:
    """Factory ``SalmonnOmniModel(checkpoint, **options)``; options: ``device`` (cpu), ``threads`` (torch intra-op
    threads; 1 is fastest for the tiny model on a busy 2-core machine), ``quantize`` ("int8": dynamic int8 LLM weights, ~2x faster for ``small``
    on a CPU; default none: the exact fp32 model; LoRA is merged either way), ``sample_rate``/``block_samples`` (checked:
    this model runs at 16 kHz, 1280-sample blocks), ``overrides`` (dotted config keys, e.g. a moved backbone.path)."""

    def __init__(self, checkpoint: str, **options: Any) -> None:
        unknown = [k for k in options if k not in KNOWN_OPTIONS]
        if unknown:
            raise ModelError(f"salmonn-omni: unknown option {unknown[0]!r} (known: {', '.join(KNOWN_OPTIONS)})")
        sr = int(options.get("sample_rate", SAMPLE_RATE))
        bs = int(options.get("block_samples", BLOCK_SAMPLES))
        if sr != SAMPLE_RATE or bs != BLOCK_SAMPLES:
            raise ModelError(
                f"salmonn-omni: runs at {SAMPLE_RATE} Hz with {BLOCK_SAMPLES}-sample blocks, got {sr} Hz / {bs}; "
                "let the harness resample (drop the sample_rate/block_samples options)"
            )
        if options.get("threads"):
            import torch

            torch.set_num_threads(int(options["threads"]))
        from model.checkpoint import load_checkpoint

        overrides = options.get("overrides") or []
        if isinstance(overrides, str):
            overrides = [overrides]
        self.model = load_checkpoint(checkpoint, device=options.get("device", "cpu"), overrides=overrides)
        # Inference only: LoRA is always merged (exact, and 120 fewer small matmuls per block for `small`);
        # int8 only when asked, because its decisions may differ from fp32 in near-ties.
        self.model.prepare_inference(str(options["quantize"]) if options.get("quantize") else None)
        cfg = self.model.cfg
        self.info = ModelInfo(
            name="salmonn-omni",
            sample_rate=SAMPLE_RATE,
            block_samples=BLOCK_SAMPLES,
            text=True,
            state=True,
            version=f"{cfg.name}-{cfg.thinking}",
            extra={"checkpoint": str(checkpoint), "config": cfg.name, "params": self.model.param_counts(),
                   "tokenizer": tokenizer_identity(self.model.tokenizer)},
        )

    def open_session(self, info: SessionInfo) -> SalmonnOmniSession:
        return SalmonnOmniSession(self.model, info)
