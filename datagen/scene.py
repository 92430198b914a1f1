"""The typed scene: everything a dialogue was rendered with (room, source positions, levels, echo path, voices).

It is the dialogue record's ``scene`` (``Dialogue.scene``), stored in ``manifest.jsonl`` and each shard's ``meta``;
:meth:`Scene.to_dict` writes exactly the JSON duplexkit has always stored, and :meth:`Scene.from_dict` reads it
back (a round trip is the identity, tested over a generated manifest).  Why typed: the scene is read by the
labels, the benchmark's closed loop, plots and exports; string keys read in five modules drift apart.

A scene is sampled before rendering (:func:`datagen.acoustics.sample_scene`) and completed after it with the
gains the mix applied and the voices heard (:meth:`Scene.rendered`); the renderer itself never edits it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

import numpy as np


class SceneError(ValueError):
    """A scene record that does not fit the format; one line naming the field."""


def soft_clip(x: np.ndarray, drive: float) -> np.ndarray:
    """An overdriven small loudspeaker: ``tanh(drive * x) / tanh(drive)`` (unit gain at full scale)."""
    return np.tanh(drive * x) / np.tanh(drive)


@dataclass(frozen=True)
class Nonlinearity:
    """The loudspeaker's soft clipping (``kind`` is always ``tanh`` today)."""

    kind: str
    drive: float

    def apply(self, x: np.ndarray) -> np.ndarray:
        return soft_clip(x, float(self.drive))


@dataclass(frozen=True)
class RoomRecord:
    """The scene's view of a bank room: enough to recompute every RIR."""

    bank_key: str
    index: int
    dims_m: list[float]
    rt60_s: float
    absorption: float
    max_order: int
    mic: list[float]
    positions: dict[str, list[float]]
    rir_samples: dict[str, int]


@dataclass(frozen=True)
class OtherLevels:
    third_level_db: float  # a third speaker vs the user
    background_level_db: float  # background speech vs the user


@dataclass(frozen=True)
class NoiseSpec:
    kind: str
    snr_db: float  # stationary floor vs user speech
    burst_level_db: float  # noise bursts vs the user


@dataclass(frozen=True)
class EchoSpec:
    """The assistant's path to the mic.  ``gain`` (set after rendering) is the echo stem's gain at this scene's
    ``echo_factor``: what the benchmark's closed loop reuses so a model hears itself as the corpus did."""

    echo_factor: float
    ser_db: float
    system_delay_samples: int
    acoustic_delay_samples: int
    delay_samples: int  # system + acoustic
    nonlinearity: Nonlinearity | None
    gain: float | None = None


@dataclass(frozen=True)
class Gains:
    """What the mix applied to each source after the room (``mic_scale``, the anti-clipping factor, is folded in)."""

    user: float
    third: float
    background: float
    echo: float
    noise_floor_rms: float
    bursts: float
    mic_scale: float
    output_scale: float


@dataclass(frozen=True)
class Voices:
    """The voice names heard: the user, the assistant and the third speaker of one dialogue."""

    user: str
    assistant: str
    third: str


@dataclass(frozen=True)
class Scene:
    room: RoomRecord
    user_rms: float
    other: OtherLevels
    noise: NoiseSpec
    echo: EchoSpec
    gains: Gains | None = None  # set by rendering
    voices: Voices | None = None  # set by the generator
    extra: dict[str, Any] = field(default_factory=dict)  # sections this version does not know: kept verbatim

    def rendered(self, gains: Gains, voices: Voices | None = None) -> "Scene":
        """The scene as rendered: the mix's gains recorded, the echo's own gain among them."""
        return replace(self, gains=gains, echo=replace(self.echo, gain=float(gains.echo)),
                       voices=voices if voices is not None else self.voices)

    # -- the stored form --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        echo = asdict(self.echo)
        if self.echo.gain is None:
            echo.pop("gain")
        d: dict[str, Any] = dict(self.extra)
        d.update(room=asdict(self.room), user={"rms": self.user_rms}, other=asdict(self.other),
                 noise=asdict(self.noise), echo=echo)
        if self.gains is not None:
            d["gains"] = asdict(self.gains)
        if self.voices is not None:
            d["voices"] = asdict(self.voices)
        return _sorted(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Scene":
        if not isinstance(d, Mapping):
            raise SceneError(f"scene: expected a mapping, got {type(d).__name__}")
        known = {"room", "user", "other", "noise", "echo", "gains", "voices"}
        missing = sorted({"room", "user", "other", "noise", "echo"} - set(d))
        if missing:
            raise SceneError(f"scene: missing section {missing[0]!r}")
        echo = dict(_section(d, "echo"))
        nl = echo.get("nonlinearity")
        echo["nonlinearity"] = _build(Nonlinearity, nl, "echo.nonlinearity") if nl is not None else None
        return cls(
            room=_build(RoomRecord, d["room"], "room"),
            user_rms=_section(d, "user").get("rms", 0.0),
            other=_build(OtherLevels, d["other"], "other"),
            noise=_build(NoiseSpec, d["noise"], "noise"),
            echo=_build(EchoSpec, echo, "echo"),
            gains=_build(Gains, d["gains"], "gains") if "gains" in d else None,
            voices=_build(Voices, d["voices"], "voices") if "voices" in d else None,
            extra={k: v for k, v in d.items() if k not in known},
        )


def _sorted(value: Any) -> Any:
    """Keys in sorted order at every level: the order a record has when read back from the manifest (written with
    ``sort_keys``), so unsorted dumps (exports) are the same for a fresh and a reloaded dialogue."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def _section(d: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = d[name]
    if not isinstance(value, Mapping):
        raise SceneError(f"scene.{name}: expected a mapping, got {type(value).__name__}")
    return value


def _build(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, Mapping):
        raise SceneError(f"scene.{where}: expected a mapping, got {type(value).__name__}")
    try:
        return cls(**value)
    except TypeError as exc:  # a missing or unknown field: name it
        raise SceneError(f"scene.{where}: {exc}".replace(f"{cls.__name__}.__init__() ", "")) from None
