"""Simulated rooms and the cached RIR bank.

Each room is one pyroomacoustics ShoeBox (sampled size and RT60, image-source method with the order and
absorption ``inverse_sabine`` gives for that RT60) with four sources and one mic: the user, a third speaker, a
noise source and the assistant's loudspeaker.  Reverberant rooms take seconds each, so the bank is computed once
per acoustics config, deterministically, and cached (``cache_dir("rir")``); a dialogue then only picks a room.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from datagen.acoustics.config import AcousticsConfig
from datagen.common.cache import cache_dir
from datagen.common.files import WriteError, atomic_write_bytes
from datagen.scene import RoomRecord, Scene
from datagen.schema import SAMPLE_RATE, seconds_to_samples

PRA_DELAY = 40  # pyroomacoustics puts every RIR's t=0 at sample 40 (its fractional-delay filter half-length)
SOUND_SPEED = 343.0
SOURCES: tuple[str, ...] = ("user", "third", "noise", "loudspeaker")
MIN_WALL_GAP = 0.5  # sources and mic keep this far from walls (metres)


@dataclass
class Room:
    dims: tuple[float, float, float]
    rt60_s: float
    absorption: float
    max_order: int
    mic: tuple[float, float, float]
    positions: dict[str, tuple[float, float, float]]
    rirs: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def direct_delay(self, source: str) -> int:
        """Samples from emission to the direct sound at the mic, pyroomacoustics' fixed delay included."""
        dist = float(np.linalg.norm(np.subtract(self.positions[source], self.mic)))
        return PRA_DELAY + seconds_to_samples(dist / SOUND_SPEED)

    def record(self, index: int, key: str) -> RoomRecord:
        """The scene's view of the room: enough to recompute every RIR."""
        return RoomRecord(
            bank_key=key,
            index=index,
            dims_m=[round(x, 4) for x in self.dims],
            rt60_s=round(self.rt60_s, 4),
            absorption=round(self.absorption, 6),
            max_order=self.max_order,
            mic=[round(x, 4) for x in self.mic],
            positions={k: [round(x, 4) for x in v] for k, v in self.positions.items()},
            rir_samples={k: int(len(v)) for k, v in self.rirs.items()},
        )


def _sample_point(rng: np.random.Generator, dims: np.ndarray, z: tuple[float, float]) -> tuple[float, float, float]:
    x = rng.uniform(MIN_WALL_GAP, dims[0] - MIN_WALL_GAP)
    y = rng.uniform(MIN_WALL_GAP, dims[1] - MIN_WALL_GAP)
    return (float(x), float(y), float(rng.uniform(*z)))


def simulate_room(rng: np.random.Generator, cfg: AcousticsConfig) -> Room:
    """One ShoeBox room with sampled size, RT60 and positions; RIRs by the image-source method."""
    import pyroomacoustics as pra

    lo, hi = np.array(cfg.room_min_m), np.array(cfg.room_max_m)
    for _ in range(100):
        dims = rng.uniform(lo, hi)
        rt60 = float(rng.uniform(*cfg.rt60_s))
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims.tolist())
            break
        except ValueError:  # this size cannot be that dry/reverberant: draw again
            continue
    else:  # validate() guarantees feasible corners, so this is only reachable with a degenerate config
        raise ValueError(f"rt60_s: no room in the configured size range reaches {cfg.rt60_s}")
    mic = _sample_point(rng, dims, (0.7, 1.3))
    positions = {}
    for name in SOURCES:
        for _ in range(100):
            p = _sample_point(rng, dims, (1.0, 1.8) if name != "noise" else (0.3, 2.0))
            if np.linalg.norm(np.subtract(p, mic)) >= 0.5:  # no source sits on the mic
                break
        positions[name] = p
    # The loudspeaker is the assistant's device: near the mic (a smart speaker or laptop), 0.1-0.5 m away.
    direction = rng.normal(size=3)
    direction[2] *= 0.2
    direction /= np.linalg.norm(direction)
    speaker = np.clip(np.array(mic) + direction * rng.uniform(0.1, 0.5), 0.2, dims - 0.2)
    positions["loudspeaker"] = tuple(float(x) for x in speaker)
    room = pra.ShoeBox(
        dims.tolist(), fs=SAMPLE_RATE, materials=pra.Material(float(absorption)), max_order=int(max_order),
        air_absorption=False,
    )
    for name in SOURCES:
        room.add_source(list(positions[name]))
    room.add_microphone(list(mic))
    room.compute_rir()
    rirs = {name: np.asarray(room.rir[0][i], dtype=np.float32) for i, name in enumerate(SOURCES)}
    return Room(
        dims=tuple(float(x) for x in dims),
        rt60_s=rt60,
        absorption=float(absorption),
        max_order=int(max_order),
        mic=mic,
        positions=positions,
        rirs=rirs,
    )


@dataclass
class RIRBank:
    key: str
    rooms: list[Room]

    def __len__(self) -> int:
        return len(self.rooms)

    def room_of(self, scene: Scene) -> Room:
        """The bank room a scene was rendered in."""
        return self.rooms[int(scene.room.index)]

    @classmethod
    def build(cls, cfg: AcousticsConfig, progress: bool = False) -> "RIRBank":
        rng = np.random.default_rng(np.random.SeedSequence([cfg.bank_seed, 0x524952]))
        rooms = []
        it = range(cfg.bank_size)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="RIR bank (once, cached)", unit="room")
        for _ in it:
            rooms.append(simulate_room(rng, cfg))
        return cls(cfg.bank_key(), rooms)

    @classmethod
    def load_or_build(cls, cfg: AcousticsConfig, progress: bool = True) -> "RIRBank":
        """The cached bank for this config, computed and stored atomically on first use."""
        path = cache_dir("rir", f"bank-{cfg.bank_key()}.npz")
        if path.exists():
            try:
                return cls.load(path)
            except Exception:  # a damaged cache file is rebuilt, never trusted
                pass
        bank = cls.build(cfg, progress=progress)
        try:
            bank.save(path)
        except (OSError, WriteError):
            pass  # an unwritable cache only costs time
        return bank

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        meta = []
        for i, room in enumerate(self.rooms):
            for name, rir in room.rirs.items():
                arrays[f"r{i}_{name}"] = rir
            d = asdict(room)
            d.pop("rirs")
            meta.append(d)
        arrays["meta"] = np.frombuffer(json.dumps({"key": self.key, "rooms": meta}).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> "RIRBank":
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            rooms = []
            for i, d in enumerate(meta["rooms"]):
                d["dims"] = tuple(d["dims"])
                d["mic"] = tuple(d["mic"])
                d["positions"] = {k: tuple(v) for k, v in d["positions"].items()}
                d["rirs"] = {name: z[f"r{i}_{name}"] for name in SOURCES}
                rooms.append(Room(**d))
        return cls(meta["key"], rooms)
