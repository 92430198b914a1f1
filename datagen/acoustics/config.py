"""The acoustics config: the ranges scenes are sampled from, validated against what the simulator supports."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from datagen.schema import SAMPLE_RATE

BANK_VERSION = 1
NOISE_KINDS: tuple[str, ...] = ("white", "pink", "brown", "hum")


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected two numbers [min, max], got {value!r}") from None
    return lo, hi


@dataclass
class AcousticsConfig:
    """Ranges the scenes are sampled from; validated against what the simulator supports."""

    rt60_s: tuple[float, float] = (0.15, 0.9)
    room_min_m: tuple[float, float, float] = (3.0, 3.0, 2.4)
    room_max_m: tuple[float, float, float] = (8.0, 7.0, 3.5)
    # 24, not 16: the split rule gives the 16-room bank 7/1/8 rooms (train/val/test), so val had one room; rooms
    # 16-23 make it 10/3/11 and leave rooms 0-15 as they were (the bank is drawn room by room from one stream)
    bank_size: int = 24
    bank_seed: int = 0
    snr_db: tuple[float, float] = (10.0, 35.0)  # stationary noise floor vs. user speech
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    ser_db: tuple[float, float] = (-5.0, 10.0)  # user speech vs. assistant echo at the mic (AEC-challenge-like)
    echo_factor: float = 1.0  # scales the echo after the SER (0 = no echo)
    system_delay_s: tuple[float, float] = (0.0, 0.04)  # playback buffering before the loudspeaker
    nonlinearity_prob: float = 0.3  # chance of a soft-clipping loudspeaker
    third_level_db: tuple[float, float] = (-6.0, 3.0)  # third speaker vs. user
    background_level_db: tuple[float, float] = (-18.0, -8.0)  # background speech (TV, colleagues) vs. user
    burst_level_db: tuple[float, float] = (-6.0, 6.0)  # noise bursts vs. user

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "AcousticsConfig":
        from datagen.common.config import check_known_keys

        if d is not None and not isinstance(d, Mapping):
            raise ValueError(f"expected a mapping, got {d!r}")
        d = dict(d or {})
        check_known_keys(d, cls)
        for f in fields(cls):
            if f.name not in d:
                continue
            if f.name in ("room_min_m", "room_max_m"):
                try:
                    d[f.name] = tuple(float(x) for x in d[f.name])
                except (TypeError, ValueError):
                    raise ValueError(f"{f.name}: expected three numbers, got {d[f.name]!r}") from None
            elif f.name == "noise_kinds":
                if not isinstance(d[f.name], (list, tuple)):
                    raise ValueError(f"noise_kinds: expected a list of names, got {d[f.name]!r}")
                d[f.name] = tuple(str(x) for x in d[f.name])
            elif isinstance(f.default, tuple):
                d[f.name] = _pair(d[f.name], f.name)
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def validate(self) -> None:
        def rng_in(name: str, lo: float, hi: float) -> None:
            a, b = getattr(self, name)
            if not (math.isfinite(a) and math.isfinite(b) and lo <= a <= b <= hi):
                raise ValueError(f"{name}: expected {lo} <= min <= max <= {hi}, got [{a}, {b}]")

        rng_in("rt60_s", 0.1, 2.0)  # below 0.1 s no real room; above 2 s the image method takes minutes per room
        rng_in("snr_db", -10.0, 80.0)
        rng_in("ser_db", -30.0, 40.0)
        rng_in("system_delay_s", 0.0, 0.5)
        for name in ("third_level_db", "background_level_db", "burst_level_db"):
            rng_in(name, -40.0, 20.0)
        if len(self.room_min_m) != 3 or len(self.room_max_m) != 3:
            raise ValueError("room_min_m/room_max_m: expected [x, y, z] in metres")
        for a, b in zip(self.room_min_m, self.room_max_m):
            if not (2.0 <= a <= b <= 50.0):
                raise ValueError(f"room_min_m/room_max_m: each side must satisfy 2 <= min <= max <= 50, got {a}, {b}")
        if not isinstance(self.bank_size, int) or not 1 <= self.bank_size <= 1000:
            raise ValueError(f"bank_size: expected an integer in [1, 1000], got {self.bank_size!r}")
        if not isinstance(self.bank_seed, int) or self.bank_seed < 0:
            raise ValueError(f"bank_seed: expected a non-negative integer, got {self.bank_seed!r}")
        if not isinstance(self.echo_factor, (int, float)) or not 0.0 <= self.echo_factor <= 10.0:
            raise ValueError(f"echo_factor: expected a number in [0, 10], got {self.echo_factor!r}")
        if not isinstance(self.nonlinearity_prob, (int, float)) or not 0.0 <= self.nonlinearity_prob <= 1.0:
            raise ValueError(f"nonlinearity_prob: expected a probability, got {self.nonlinearity_prob!r}")
        if not self.noise_kinds:
            raise ValueError("noise_kinds: at least one kind is needed")
        for kind in self.noise_kinds:
            if kind not in NOISE_KINDS:
                raise ValueError(f"noise_kinds: unknown noise kind {kind!r} (known: {', '.join(NOISE_KINDS)})")
        # The smallest room must reach the longest RT60 and the largest room the shortest one (Sabine's formula).
        import pyroomacoustics as pra

        for rt60, dims in ((self.rt60_s[1], self.room_min_m), (self.rt60_s[0], self.room_max_m)):
            try:
                pra.inverse_sabine(rt60, list(dims))
            except ValueError:
                raise ValueError(
                    f"rt60_s: {rt60} s is not reachable in a {dims[0]}x{dims[1]}x{dims[2]} m room "
                    "(Sabine); narrow rt60_s or change room_min_m/room_max_m"
                ) from None

    def bank_key(self) -> str:
        """What the RIR bank depends on (and nothing else), hashed: the cache file name."""
        spec = {
            "v": BANK_VERSION,
            "rt60_s": list(self.rt60_s),
            "room_min_m": list(self.room_min_m),
            "room_max_m": list(self.room_max_m),
            "bank_size": self.bank_size,
            "bank_seed": self.bank_seed,
            "sr": SAMPLE_RATE,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
