"""The tiny checkpoints committed under ``checkpoints/tiny/`` (issue 14) stay loadable as the code evolves: a user
scores them with ``duplexkit bench run --model salmonn-omni --checkpoint checkpoints/tiny/dpo`` without training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datagen.schema import BLOCK_SAMPLES

ROOT = Path(__file__).resolve().parents[1] / "checkpoints" / "tiny"


@pytest.mark.parametrize("name", ["sft", "dpo"])
def test_committed_tiny_checkpoint_loads_and_streams(name):
    from model.checkpoint import load_checkpoint

    model = load_checkpoint(ROOT / name)
    st = model.new_state(0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        out = model.step(st, (0.01 * rng.standard_normal(BLOCK_SAMPLES)).astype(np.float32),
                         np.zeros(BLOCK_SAMPLES, np.float32))
        assert out.audio.shape == (BLOCK_SAMPLES,) and np.isfinite(out.audio).all()
        assert out.state in ("<think>", "<shift>", "text")


def test_committed_checkpoints_come_with_their_provenance():
    for name in ("sft", "dpo"):
        prov = json.loads((ROOT / name / "provenance.json").read_text())
        assert prov["checkpoint"] and prov["selected_on"] == "val" and prov["corpora"]["val"]["split"] == "val"
