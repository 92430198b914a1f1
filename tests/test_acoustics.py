"""Rooms, scenes and the mic render: stems sum to the mic, levels follow the sampled SNR/SER, the echo path is
the one the benchmark reuses, the bank is deterministic and cached, bad values are refused by name."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagen.acoustics import (
    AcousticsConfig,
    RIRBank,
    colored_noise,
    random_noise_burst,
    render_echo,
    sample_scene,
)
from datagen.levels import SPEECH_RMS as USER_RMS
from datagen.levels import active_rms
from datagen.render import render_mic
from tests.conftest import SMALL_ACOUSTICS

CFG = AcousticsConfig.from_dict(SMALL_ACOUSTICS)


def _linear(scene):
    """The scene with a linear loudspeaker (level checks need an undistorted echo)."""
    return replace(scene, echo=replace(scene.echo, nonlinearity=None))


@pytest.fixture(scope="module")
def bank() -> RIRBank:
    return RIRBank.load_or_build(CFG, progress=False)


def _dry(rng: np.random.Generator, n: int, present: dict[str, bool]) -> dict[str, np.ndarray]:
    out = {}
    for name in ("user", "assistant", "other", "background"):
        x = np.zeros(n, np.float32)
        if present.get(name, True):
            a = int(rng.integers(0, n // 2))
            x[a : a + n // 3] = (0.2 * rng.standard_normal(n // 3)).astype(np.float32)
        out[name] = x
    return out


def test_bank_is_deterministic_and_cached(bank, tmp_path, monkeypatch):
    fresh = RIRBank.build(CFG)
    assert fresh.key == bank.key and len(fresh) == CFG.bank_size
    for a, b in zip(fresh.rooms, bank.rooms):
        assert a.dims == b.dims and a.positions == b.positions
        for name in a.rirs:
            assert np.array_equal(a.rirs[name], b.rirs[name])
    monkeypatch.setenv("DUPLEXKIT_CACHE", str(tmp_path))
    RIRBank.load_or_build(CFG, progress=False)
    files = list((tmp_path / "rir").glob("bank-*.npz"))
    assert len(files) == 1 and not list((tmp_path / "rir").glob(".*tmp"))
    files[0].write_bytes(b"garbage")  # a damaged cache is rebuilt, not trusted
    again = RIRBank.load_or_build(CFG, progress=False)
    assert np.array_equal(again.rooms[0].rirs["user"], bank.rooms[0].rirs["user"])


def test_rooms_reach_their_rt60_and_the_echo_delay_is_the_direct_path(bank):
    for room in bank.rooms:
        assert CFG.rt60_s[0] <= room.rt60_s <= CFG.rt60_s[1]
        rir = room.rirs["loudspeaker"]
        assert abs(int(np.argmax(np.abs(rir))) - room.direct_delay("loudspeaker")) <= 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), seconds=st.floats(0.5, 4.0), echo_factor=st.sampled_from([0.0, 0.1, 1.0]),
       present=st.fixed_dictionaries({k: st.booleans() for k in ("assistant", "other", "background")}))
def test_stems_sum_to_mic_and_have_equal_lengths(bank, seed, seconds, echo_factor, present):
    rng = np.random.default_rng(seed)
    cfg = AcousticsConfig.from_dict({**SMALL_ACOUSTICS, "echo_factor": echo_factor})
    scene = sample_scene(rng, cfg, bank)
    n = int(seconds * 16000)
    bursts = np.zeros(n, np.float32)
    if rng.random() < 0.5:
        b = random_noise_burst(rng)[: n // 2]
        bursts[: len(b)] = b
    stems, gains = render_mic(scene, _dry(rng, n, present), bank, rng, bursts=bursts)
    assert {len(v) for v in stems.values()} == {n}
    assert all(v.dtype == np.float32 for v in stems.values())
    assert np.array_equal(stems["mic"], stems["user"] + stems["echo"] + stems["other"] + stems["noise"])
    assert np.abs(stems["mic"]).max() <= 0.95 + 1e-6
    if echo_factor == 0.0 or not present["assistant"]:
        assert not stems["echo"].any() and gains.echo == 0.0


def test_levels_follow_the_scene(bank):
    rng = np.random.default_rng(3)
    scene = _linear(sample_scene(rng, CFG, bank))
    n = 16000 * 3
    dry = _dry(rng, n, {"other": False, "background": False})
    stems, gains = render_mic(scene, dry, bank, rng)
    scale = gains.mic_scale
    assert active_rms(stems["user"]) == pytest.approx(USER_RMS * scale, rel=1e-3)
    ser = 20 * np.log10(active_rms(stems["user"]) / active_rms(stems["echo"]))
    assert ser == pytest.approx(scene.echo.ser_db, abs=0.05)
    noise_rms = float(np.sqrt(np.mean(stems["noise"].astype(np.float64) ** 2)))
    snr = 20 * np.log10(active_rms(stems["user"]) / noise_rms)
    assert snr == pytest.approx(scene.noise.snr_db, abs=0.1)


def test_render_echo_reproduces_the_echo_stem(bank):
    """The benchmark's closed loop plays a model's output through render_echo with the recorded gain."""
    rng = np.random.default_rng(5)
    scene = sample_scene(rng, CFG, bank)
    dry = _dry(rng, 16000 * 2, {})
    stems, gains = render_mic(scene, dry, bank, rng)
    again = render_echo(dry["assistant"], scene, bank, gains.echo)
    np.testing.assert_allclose(again, stems["echo"], atol=1e-6)
    # An impulse comes back at the recorded delay (system + acoustic, incl. the simulator's 40 samples).
    scene = _linear(scene)
    impulse = np.zeros(4000, np.float32)
    impulse[100] = 1.0
    heard = render_echo(impulse, scene, bank, 1.0)
    assert abs(int(np.argmax(np.abs(heard))) - (100 + scene.echo.delay_samples)) <= 2


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "hum"])
def test_noise_is_unit_rms_and_deterministic(kind):
    a = colored_noise(np.random.default_rng(1), kind, 16000)
    b = colored_noise(np.random.default_rng(1), kind, 16000)
    assert np.array_equal(a, b)
    assert float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize(
    "override, field",
    [
        ({"rt60_s": [0.05, 0.5]}, "rt60_s"),
        ({"rt60_s": [0.5, 3.0]}, "rt60_s"),
        ({"snr_db": [100, 120]}, "snr_db"),
        ({"echo_factor": -1}, "echo_factor"),
        ({"noise_kinds": ["jet"]}, "noise_kinds"),
        ({"bank_size": 0}, "bank_size"),
        ({"rt60_s": [0.1, 0.2], "room_min_m": [40, 40, 10], "room_max_m": [50, 50, 12]}, "rt60_s"),
        ({"volume": 3}, "volume"),
    ],
)
def test_bad_values_are_refused_by_name(override, field):
    with pytest.raises(ValueError, match=field):
        AcousticsConfig.from_dict(override).validate()
