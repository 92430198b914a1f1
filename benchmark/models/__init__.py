"""Every duplex-model adapter, by name, loaded lazily (lm-evaluation-harness keeps ``lm_eval/models/``).

``baselines`` (``silent``, ``always_talk``, ``oracle``), ``cascade`` (``vad_cascade``: VAD -> ASR -> SmolLM2 ->
TTS), ``files`` (outputs another model already produced, FDB layout), ``salmonn_omni`` (``salmonn-omni``: a
checkpoint of :mod:`model`).  Each implements :mod:`benchmark.protocol`; ``register`` adds your own.
"""

from __future__ import annotations

from typing import Any, Callable

from benchmark.protocol import DuplexModel, ModelInfo
from datagen.common.registry import Registry, UnknownName

MODELS: Registry[DuplexModel] = Registry("model", {
    "silent": "benchmark.models.baselines:SilentModel",
    "always_talk": "benchmark.models.baselines:AlwaysTalkModel",
    "oracle": "benchmark.models.baselines:OracleModel",
    "vad_cascade": "benchmark.models.cascade:VadCascadeModel",
    "files": "benchmark.models.files:FilesModel",
    "salmonn-omni": "benchmark.models.salmonn_omni:SalmonnOmniModel",
})
UnknownModel = UnknownName


def register(name: str, target: str | Callable[..., DuplexModel]) -> None:
    """Add an adapter: ``target`` is a factory or ``"module:attribute"`` imported on first use."""
    MODELS.register(name, target)


def available() -> list[str]:
    return sorted(MODELS.names())


def load_model(name: str, **options: Any) -> DuplexModel:
    """Build the adapter registered as ``name`` with ``options`` (e.g. ``checkpoint=...``)."""
    model = MODELS.create(name, **options)
    if not isinstance(getattr(model, "info", None), ModelInfo):
        raise TypeError(f"model {name!r}: its factory returned an object without a ModelInfo 'info'")
    return model
