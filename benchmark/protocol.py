"""The duplex-model protocol: what any model must offer to be scored, and a lazy registry of adapters by name.

A model is driven one 80 ms block at a time by the harness's media clock (ARCHITECTURE.md):

* ``model.info`` declares its ``sample_rate`` and ``block_samples`` (one block of audio at its own rate, 80 ms)
  and capabilities (``text``: it has a text stream; ``state``: it reports its think/shift state);
* ``model.open_session(session_info) -> session``; ``session_info`` tells the model the item it is about to hear
  (id, task; never the labels);
* ``session.step(mic_block) -> StepOutput(audio, text=None, state=None)``: ``mic_block`` is ``block_samples``
  float32 samples at the model's rate; ``audio`` must be exactly ``block_samples`` finite samples (zeros when the
  model is silent); ``text`` is what the text stream emitted in this block (a word, a piece of one, or None);
  ``state`` its ``<think>``/``<shift>``/``text`` state and ``token`` its token id, for models that have them;
* ``session.close()`` releases the session; a model must reset completely between sessions (moshi's rule).
* ``info.reference`` (bounds only: the oracle): the model reads the item's corpus reference, handed to
  ``model.prepare(item)`` before each session.  A real model never sets it; reports mark such models.

Adapters live in :mod:`benchmark.models`, registered by name (``load_model``); this module only defines the
protocol, so an adapter imports it and nothing imports the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE

PROTOCOL_VERSION = "1.0"


@dataclass(frozen=True)
class ModelInfo:
    """What a model declares about itself."""

    name: str
    sample_rate: int = SAMPLE_RATE
    block_samples: int = BLOCK_SAMPLES
    text: bool = False  # has a text stream (S2T answers come from it; else ASR of its audio)
    state: bool = False  # reports <think>/<shift> state per step
    reference: bool = False  # reads the item's corpus reference through prepare(item) (the oracle only)
    version: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.block_samples <= 0:
            raise ValueError(f"model {self.name!r}: sample_rate and block_samples must be positive")
        # One block is 80 ms at the model's own rate: 16 kHz -> 1280, 24 kHz -> 1920.
        if self.block_samples * 1000 != self.sample_rate * 80:
            raise ValueError(
                f"model {self.name!r}: block_samples {self.block_samples} is not 80 ms at {self.sample_rate} Hz"
            )


@dataclass(frozen=True)
class SessionInfo:
    """What the model is told when a session opens (never the labels)."""

    item_id: str
    task: str
    seed: int = 0


@dataclass
class StepOutput:
    """One block of the model's reaction: audio it plays next, text it emitted, its state token (if it has one)."""

    audio: np.ndarray
    text: str | None = None
    state: str | None = None
    # the model's own token id of this step (models with a token stream, e.g. salmonn-omni), recorded per item so a
    # failure can become a preference pair whose rejected branch is exactly what the model emitted
    token: int | None = None


@runtime_checkable
class DuplexSession(Protocol):
    def step(self, mic_block: np.ndarray) -> StepOutput: ...

    def close(self) -> None: ...


@runtime_checkable
class DuplexModel(Protocol):
    info: ModelInfo

    def open_session(self, info: SessionInfo) -> DuplexSession: ...


@runtime_checkable
class ReferenceModel(DuplexModel, Protocol):
    """A bound that acts on the labels (``info.reference``): the harness hands it each item before its session."""

    def prepare(self, item: Any) -> None: ...
