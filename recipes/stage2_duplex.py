"""Stage 2: the full duplex corpus (every scenario: turn-taking, pauses, backchannels, barge-ins, distractors)
with the token loss weighted per class and the synthesizer's L1 loss; usually ``init_from`` stage 1's final/.

The class weights (``loss.think/shift/text``) are the point of this stage: unweighted, ``<think>`` (most blocks)
wins and the model never takes the turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from datagen.common.config import ConfigError

from .config import TrainConfig
from .duplex import run_duplex_stage

STAGE = "duplex"


def check(cfg: TrainConfig) -> None:
    if cfg.loss.synth <= 0 and "synth" in cfg.trainable:
        raise ConfigError("loss.synth: 0 while the synthesizer is trainable (stage 2 trains it; set > 0)")


def run(cfg: TrainConfig, data: Sequence[str], eval_data: str | None, out: str | Path,
        progress: bool = True) -> dict[str, Any]:
    """setup / train / save / cleanup (:class:`recipes.duplex.DuplexRecipe`) after this stage's checks."""
    check(cfg)
    return run_duplex_stage(cfg, data, eval_data, out, progress)
