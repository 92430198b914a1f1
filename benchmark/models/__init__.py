"""Every duplex-model adapter, by name, loaded lazily (lm-evaluation-harness keeps ``lm_eval/models/``).

``baselines`` (``silent``, ``always_talk``, ``oracle``), ``cascade`` (``vad_cascade``: VAD -> ASR -> SmolLM2 ->
TTS), ``files`` (outputs another model already produced, FDB layout), ``salmonn_omni`` (``salmonn-omni``: a
checkpoint of :mod:`model`), ``turn_classifier`` (a scikit-learn classifier on frame features, trained by
:mod:`benchmark.train_classifier`).  Each implements :mod:`benchmark.protocol`; ``register`` adds your own.
"""

from __future__ import annotations

from typing import Any, Callable

from benchmark.protocol import DuplexModel, ModelInfo
from datagen.common.errors import INTERRUPTS, DuplexkitError, fault_line
from datagen.common.registry import Registry, UnknownName

MODELS: Registry[DuplexModel] = Registry("model", {
    "silent": "benchmark.models.baselines:SilentModel",
    "always_talk": "benchmark.models.baselines:AlwaysTalkModel",
    "oracle": "benchmark.models.baselines:OracleModel",
    "vad_cascade": "benchmark.models.cascade:VadCascadeModel",
    "files": "benchmark.models.files:FilesModel",
    "salmonn-omni": "benchmark.models.salmonn_omni:SalmonnOmniModel",
    "turn_classifier": "benchmark.models.turn_classifier:TurnClassifierModel",
})
UnknownModel = UnknownName
# Adapters that are pure Python/NumPy (no long C calls, no threads): safe and fastest in process, so a bench run
# isolates every other model by default (benchmark.isolation) and not these.
IN_PROCESS_SAFE = ("benchmark.models.baselines", "benchmark.models.files")
# Per-step limits above the runner's default (30 s) for adapters whose step can legitimately take longer: the
# cascade's endpoint step runs Whisper and SmolLM2 inside one step, 3-5 s on an idle 2-core machine, 10-30 s when
# other jobs share the cores, and over 30 s once (measured: a reproduce smoke run beside a tiny one).  The demo and
# `duplexkit reproduce` pass these.
STEP_TIMEOUT_S: dict[str, float] = {"vad_cascade": 120.0}


class ModelError(DuplexkitError, RuntimeError, ValueError):
    """A model that cannot be built: its factory raised (often a bad option value), or returned no model."""


def register(name: str, target: str | Callable[..., DuplexModel]) -> None:
    """Add an adapter: ``target`` is a factory or ``"module:attribute"`` imported on first use.  A bench run resolves
    it in the calling process and ships the factory to its workers, so registering in a script's ``__main__`` block
    works as long as the factory itself is importable or defined at the script's top level."""
    MODELS.register(name, target)


def available() -> list[str]:
    return sorted(MODELS.names())


def resolve_factory(name: str) -> Callable[..., DuplexModel]:
    """The factory registered as ``name`` (UnknownModel, one line, for a name nobody registered)."""
    return MODELS.resolve(name)


def in_process_safe(factory: Callable[..., Any]) -> bool:
    return getattr(factory, "__module__", "") in IN_PROCESS_SAFE


def build_model(name: str, factory: Callable[..., DuplexModel], options: dict[str, Any]) -> DuplexModel:
    """``factory(**options)`` checked: a factory's own one-line errors pass through, anything else it raises
    (SystemExit included; never Ctrl-C) becomes ``model 'x': its factory raised T: ...``."""
    try:
        model = factory(**options)
    except DuplexkitError:
        raise
    except BaseException as exc:  # noqa: BLE001 - a model's code is not ours: one line, never a traceback
        if isinstance(exc, INTERRUPTS):
            raise
        raise ModelError(f"model {name!r}: its factory raised {fault_line(exc)}") from None
    if not isinstance(getattr(model, "info", None), ModelInfo):
        raise ModelError(f"model {name!r}: its factory returned an object without a ModelInfo 'info'")
    return model


def load_model(name: str, **options: Any) -> DuplexModel:
    """Build the adapter registered as ``name`` with ``options`` (e.g. ``checkpoint=...``), in this process."""
    return build_model(name, resolve_factory(name), options)
