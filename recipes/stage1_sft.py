"""Stage 1: the connector, the LoRA adapters (the whole tiny backbone) and the state tokens, optionally the
encoder, on listening and spoken QA with ``<think>``/``<shift>`` (scenarios without barge-ins by default), mixed
with ASR-style transcription of the user's words (``data.tasks``; the ``transcribe`` stream of
:mod:`model.targets`, told apart from the duplex stream by the model's task vector, ``model_config.tasks``).
Token loss only: the synthesizer is frozen and its loss weight must be 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from datagen.common.config import ConfigError

from .config import TrainConfig
from .duplex import run_duplex_stage

STAGE = "sft"


def check(cfg: TrainConfig) -> None:
    if cfg.loss.synth != 0:
        raise ConfigError(f"loss.synth: stage 1 trains the token loss only (got {cfg.loss.synth}); use stage 2")
    if "synth" in cfg.trainable:
        raise ConfigError("trainable: stage 1 keeps the synthesizer frozen (remove 'synth')")


def run(cfg: TrainConfig, data: Sequence[str], eval_data: str | None, out: str | Path,
        progress: bool = True) -> dict[str, Any]:
    """setup / train / save / cleanup (:class:`recipes.duplex.DuplexRecipe`) after this stage's checks."""
    check(cfg)
    return run_duplex_stage(cfg, data, eval_data, out, progress)
