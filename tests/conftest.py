"""Shared test setup: a project-local cache (the RIR bank is computed once and reused by every test run) and a
small, fast acoustics config for tests that do not need the default bank."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DUPLEXKIT_CACHE", str(ROOT / ".cache" / "duplexkit"))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

# Two dry-to-medium rooms: the image-source method takes ~0.1 s each at these RT60s (vs ~25 s for the default bank).
SMALL_ACOUSTICS = {"bank_size": 2, "rt60_s": [0.15, 0.35], "room_max_m": [5.0, 4.5, 3.0]}


@pytest.fixture(scope="session")
def small_acoustics() -> dict:
    return dict(SMALL_ACOUSTICS)


# A corpus with every scenario for the benchmark's tests: one short dialogue per scenario planner (8 in all).
BENCH_CORPUS_SEED = 13


@pytest.fixture(scope="session")
def bench_corpus(tmp_path_factory) -> Path:
    from datagen.config import GeneratorConfig
    from datagen.generate import generate

    out = tmp_path_factory.mktemp("bench-corpus")
    config = GeneratorConfig.from_dict({
        "acoustics": dict(SMALL_ACOUSTICS), "dialogues_per_shard": 4, "dialogue_seconds": [14.0, 18.0],
    })
    generate(out, 4.0, seed=BENCH_CORPUS_SEED, workers=1, config=config, progress=False)
    return out


def toy_scene(echo_gain: float = 0.1, echo_delay: int = 0):
    """A complete scene for hand-made dialogue records (labels read its echo gain and delay)."""
    from datagen.scene import EchoSpec, NoiseSpec, OtherLevels, RoomRecord, Scene

    room = RoomRecord("toy", 0, [4.0, 4.0, 2.5], 0.3, 0.2, 10, [2.0, 2.0, 1.0], {}, {})
    echo = EchoSpec(1.0, 5.0, 0, echo_delay, echo_delay, None, echo_gain)
    return Scene(room, 0.05, OtherLevels(0.0, -10.0), NoiseSpec("white", 30.0, 0.0), echo)
