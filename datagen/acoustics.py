"""Room acoustics: a cached bank of simulated rooms, per-dialogue scenes, and the mic channel they produce.

Each bank entry is one pyroomacoustics ShoeBox room (sampled size and RT60, image-source method with the order
and absorption that ``inverse_sabine`` gives for that RT60) with four sources and one mic: the user, a third
speaker, a noise source and the assistant's loudspeaker.  The room impulse responses (RIRs) take seconds to compute
for reverberant rooms, so the bank is computed once per acoustics config, deterministically, and cached on disk
(``$DUPLEXKIT_CACHE`` or ``~/.cache/duplexkit``); a dialogue then only picks a room and samples levels.

Levels: pyroomacoustics does not calibrate levels, so every stem is normalised to what the scene samples: the user
at :data:`USER_RMS` (active speech RMS), the echo at a signal-to-echo ratio (SER) below the user, noise at an SNR,
third speakers and bursts at levels relative to the user.  ``echo_factor`` scales the echo afterwards (0 = no echo,
used for sweeps), so a sweep over it changes nothing else.  The echo path (optional loudspeaker nonlinearity, the
playback system delay, the loudspeaker→mic RIR) lives in :func:`render_echo`, the one implementation the generator
and the closed-loop benchmark share.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from scipy.signal import oaconvolve

from datagen.common.cache import cache_dir
from datagen.common.files import WriteError, atomic_write_bytes
from datagen.schema import SAMPLE_RATE, seconds_to_samples

BANK_VERSION = 1
PRA_DELAY = 40  # pyroomacoustics puts every RIR's t=0 at sample 40 (its fractional-delay filter half-length)
SOUND_SPEED = 343.0
USER_RMS = 0.05  # active-speech RMS of the user stem at the mic (about -26 dBFS)
MIC_PEAK = 0.95  # the mic (and every stem with it) is scaled down when it would clip
SOURCES: tuple[str, ...] = ("user", "third", "noise", "loudspeaker")
NOISE_KINDS: tuple[str, ...] = ("white", "pink", "brown", "hum")
MIN_WALL_GAP = 0.5  # sources and mic keep this far from walls (metres)


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
    bank_size: int = 16
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


# ------------------------------------------------------------------------------------------------------------------
# The RIR bank
# ------------------------------------------------------------------------------------------------------------------
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
        return PRA_DELAY + int(round(dist / SOUND_SPEED * SAMPLE_RATE))

    def record(self, index: int, key: str) -> dict[str, Any]:
        """The scene record's view of the room: enough to recompute every RIR."""
        return {
            "bank_key": key,
            "index": index,
            "dims_m": [round(x, 4) for x in self.dims],
            "rt60_s": round(self.rt60_s, 4),
            "absorption": round(self.absorption, 6),
            "max_order": self.max_order,
            "mic": [round(x, 4) for x in self.mic],
            "positions": {k: [round(x, 4) for x in v] for k, v in self.positions.items()},
            "rir_samples": {k: int(len(v)) for k, v in self.rirs.items()},
        }


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


# ------------------------------------------------------------------------------------------------------------------
# Scenes
# ------------------------------------------------------------------------------------------------------------------
def sample_scene(rng: np.random.Generator, cfg: AcousticsConfig, bank: RIRBank) -> dict[str, Any]:
    """Pick a room and sample every level and delay; the returned dict is stored as the dialogue's scene."""
    index = int(rng.integers(len(bank)))
    room = bank.rooms[index]
    system_delay = seconds_to_samples(float(rng.uniform(*cfg.system_delay_s)))
    acoustic_delay = room.direct_delay("loudspeaker")
    nonlinear = bool(rng.random() < cfg.nonlinearity_prob)
    return {
        "room": room.record(index, bank.key),
        "user": {"rms": USER_RMS},
        "other": {
            "third_level_db": round(float(rng.uniform(*cfg.third_level_db)), 3),
            "background_level_db": round(float(rng.uniform(*cfg.background_level_db)), 3),
        },
        "noise": {
            "kind": str(cfg.noise_kinds[int(rng.integers(len(cfg.noise_kinds)))]),
            "snr_db": round(float(rng.uniform(*cfg.snr_db)), 3),
            "burst_level_db": round(float(rng.uniform(*cfg.burst_level_db)), 3),
        },
        "echo": {
            "echo_factor": float(cfg.echo_factor),
            "ser_db": round(float(rng.uniform(*cfg.ser_db)), 3),
            "system_delay_samples": system_delay,
            "acoustic_delay_samples": acoustic_delay,
            "delay_samples": system_delay + acoustic_delay,
            # Soft clipping of an overdriven small loudspeaker: y = tanh(drive * x) / tanh(drive).
            "nonlinearity": {"kind": "tanh", "drive": round(float(rng.uniform(1.5, 4.0)), 3)} if nonlinear else None,
        },
    }


# ------------------------------------------------------------------------------------------------------------------
# Signals
# ------------------------------------------------------------------------------------------------------------------
def active_rms(x: np.ndarray, frame: int = 160, floor_db: float = -40.0) -> float:
    """RMS over the 10 ms frames within ``floor_db`` of the loudest one (speech level, silences excluded)."""
    n = len(x) // frame
    if n == 0:
        return 0.0
    power = np.square(x[: n * frame].astype(np.float64)).reshape(n, frame).mean(axis=1)
    peak = power.max()
    if peak <= 0:
        return 0.0
    active = power[power >= peak * 10 ** (floor_db / 10)]
    return float(np.sqrt(active.mean()))


SPARSE_BLOCK = 1600  # 100 ms: the grain at which silent stretches of a dry track are skipped


def active_runs(x: np.ndarray, min_gap: int) -> list[tuple[int, int]]:
    """Sample ranges of ``x`` that hold sound, on a 100 ms grid, merging runs closer than ``min_gap``."""
    n_blocks = -(-len(x) // SPARSE_BLOCK)
    padded = np.zeros(n_blocks * SPARSE_BLOCK, x.dtype)
    padded[: len(x)] = x
    active = np.flatnonzero(padded.reshape(n_blocks, SPARSE_BLOCK).any(axis=1))
    runs: list[list[int]] = []
    for b in active:
        s, e = int(b) * SPARSE_BLOCK, min((int(b) + 1) * SPARSE_BLOCK, len(x))
        if runs and s - runs[-1][1] < min_gap:
            runs[-1][1] = e
        else:
            runs.append([s, e])
    return [(s, e) for s, e in runs]


def convolve(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Room convolution, cut to the input length (so every stem has the channel's length).

    Dry tracks are mostly silence (a third speaker talks for seconds in a minute), so only the stretches that hold
    sound are convolved, each with its full reverberant tail; the sum equals the convolution of the whole track.
    """
    n = len(x)
    out = np.zeros(n, np.float32)
    for s, e in active_runs(x, min_gap=len(rir)):
        wet = oaconvolve(x[s:e], rir)
        stop = min(n, s + len(wet))
        out[s:stop] += wet[: stop - s]
    return out


# Paul Kellet's economy pink-noise filter (-3 dB/octave within 0.5 dB over the audio band) and a leaky integrator
# for brown noise (-6 dB/octave above ~13 Hz): IIR filters on white noise, linear in time, no long FFTs.
_PINK = ([0.049922035, -0.095993537, 0.050612699, -0.004408786], [1.0, -2.494956002, 2.017265875, -0.522189400])
_BROWN = ([1.0], [1.0, -0.995])


def colored_noise(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    """Stationary noise of unit RMS: white, pink (1/f), brown (1/f^2) or mains hum with harmonics."""
    from scipy.signal import lfilter

    if kind == "hum":
        t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        phases = rng.uniform(0, 2 * np.pi, 4)
        x = sum((0.5**k) * np.sin(2 * np.pi * f0 * (k + 1) * t + phases[k]) for k in range(4))
        x = x + 0.05 * rng.standard_normal(n)
    else:
        x = rng.standard_normal(n)
        if kind == "pink":
            x = lfilter(*_PINK, x)
        elif kind == "brown":
            x = lfilter(*_BROWN, x)
    x = np.asarray(x, dtype=np.float64)
    rms = np.sqrt(np.mean(x**2)) or 1.0
    return (x / rms).astype(np.float32)


def random_noise_burst(rng: np.random.Generator) -> np.ndarray:
    """A short non-speech event (door slam, knock, clatter, beep) of unit peak, 0.15-1.2 s long."""
    kind = int(rng.integers(4))
    n = seconds_to_samples(float(rng.uniform(0.15, 1.2)))
    t = np.arange(n) / SAMPLE_RATE
    if kind == 0:  # slam: broadband noise with a fast attack and exponential decay
        x = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.05, 0.25))
    elif kind == 1:  # knocks: a few short decaying low-frequency pulses
        x = np.zeros(n)
        period = seconds_to_samples(float(rng.uniform(0.12, 0.25)))
        f = rng.uniform(120, 400)
        for start in range(0, n, period):
            m = min(n - start, period)
            tt = np.arange(m) / SAMPLE_RATE
            x[start : start + m] += np.sin(2 * np.pi * f * tt) * np.exp(-tt / 0.02)
    elif kind == 2:  # clatter: sparse random clicks filtered bright
        x = np.where(rng.random(n) < 0.01, rng.standard_normal(n), 0.0)
        x = np.convolve(x, np.exp(-np.arange(80) / 10.0), mode="same")
    else:  # beep: a device tone
        x = np.sin(2 * np.pi * rng.uniform(600, 2500) * t)
        ramp = min(160, n // 4)
        x[:ramp] *= np.linspace(0, 1, ramp)
        x[-ramp:] *= np.linspace(1, 0, ramp)
    peak = np.abs(x).max() or 1.0
    return (x / peak).astype(np.float32)


def _nonlinear(x: np.ndarray, spec: Mapping[str, Any] | None) -> np.ndarray:
    if not spec:
        return x
    drive = float(spec["drive"])
    return (np.tanh(drive * x) / np.tanh(drive)).astype(np.float32)


def render_echo(assistant: np.ndarray, scene: Mapping[str, Any], bank: RIRBank, gain: float) -> np.ndarray:
    """The assistant's sound at the mic: loudspeaker nonlinearity, system delay, loudspeaker→mic RIR, ``gain``.

    The benchmark's closed loop calls this with the gain a generated scene recorded (``scene["echo"]["gain"]``), so
    a model hears itself exactly as the corpus's assistant channel was heard.
    """
    echo_spec = scene["echo"]
    n = len(assistant)
    if gain == 0.0 or not assistant.any():
        return np.zeros(n, np.float32)
    x = _nonlinear(assistant.astype(np.float32), echo_spec.get("nonlinearity"))
    delay = int(echo_spec["system_delay_samples"])
    delayed = np.zeros(n, np.float32)
    if delay < n:
        delayed[delay:] = x[: n - delay]
    rir = bank.rooms[int(scene["room"]["index"])].rirs["loudspeaker"]
    return (convolve(delayed, rir) * np.float32(gain)).astype(np.float32)


def _db(level_db: float) -> float:
    return float(10 ** (level_db / 20))


def _scaled(x: np.ndarray, target_rms: float) -> tuple[np.ndarray, float]:
    level = active_rms(x)
    if level <= 0:
        return np.zeros_like(x), 0.0
    g = target_rms / level
    return (x * np.float32(g)).astype(np.float32), g


def render_mic(
    scene: dict[str, Any],
    dry: Mapping[str, np.ndarray],
    bank: RIRBank,
    rng: np.random.Generator,
    bursts: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Dry tracks (``user``, ``assistant``, ``other``, ``background``) → stems and ``mic`` (their exact sum).

    Returns the stems and the gains applied (each stem's scale after the room, ``echo`` being the gain that
    :func:`render_echo` reproduces, and ``mic_scale`` the anti-clipping factor already folded into all of them).
    """
    room = bank.rooms[int(scene["room"]["index"])]
    n = len(dry["user"])
    user_wet = convolve(dry["user"], room.rirs["user"])
    user, g_user = _scaled(user_wet, USER_RMS)
    ref = USER_RMS
    third, g_third = _scaled(convolve(dry["other"], room.rirs["third"]), ref * _db(scene["other"]["third_level_db"]))
    background, g_bg = _scaled(
        convolve(dry["background"], room.rirs["noise"]), ref * _db(scene["other"]["background_level_db"])
    )
    echo_spec = scene["echo"]
    # The echo's level is set by the SER at echo_factor 1 (measured on the echo as rendered), then scaled.
    unit_echo = render_echo(dry["assistant"], scene, bank, 1.0)
    level = active_rms(unit_echo)
    g_echo = (ref / _db(echo_spec["ser_db"]) / level if level > 0 else 0.0) * float(echo_spec["echo_factor"])
    echo = (unit_echo * np.float32(g_echo)).astype(np.float32)
    noise_spec = scene["noise"]
    floor = colored_noise(rng, noise_spec["kind"], n) * np.float32(ref / _db(noise_spec["snr_db"]))
    g_burst = 0.0
    if bursts is not None and bursts.any():
        wet_bursts, g_burst = _scaled(convolve(bursts, room.rirs["noise"]), ref * _db(noise_spec["burst_level_db"]))
        floor = floor + wet_bursts
    noise = floor.astype(np.float32)
    other = (third + background).astype(np.float32)
    mic = user + echo + other + noise
    peak = float(np.abs(mic).max()) if n else 0.0
    scale = min(1.0, MIC_PEAK / peak) if peak > 0 else 1.0
    stems = {"user": user, "echo": echo, "other": other, "noise": noise}
    if scale < 1.0:
        stems = {k: (v * np.float32(scale)).astype(np.float32) for k, v in stems.items()}
    stems["mic"] = (stems["user"] + stems["echo"] + stems["other"] + stems["noise"]).astype(np.float32)
    gains = {
        "user": g_user * scale,
        "third": g_third * scale,
        "background": g_bg * scale,
        "echo": g_echo * scale,
        "noise_floor_rms": ref / _db(noise_spec["snr_db"]) * scale,
        "bursts": g_burst * scale,
        "mic_scale": scale,
        "output_scale": 1.0,
    }
    return stems, gains
