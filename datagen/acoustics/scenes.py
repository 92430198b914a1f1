"""Scene sampling: a room from the bank and every level and delay of one dialogue (a typed :class:`Scene`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from datagen.acoustics.config import AcousticsConfig
from datagen.acoustics.rooms import RIRBank
from datagen.levels import SPEECH_RMS
from datagen.scene import EchoSpec, NoiseSpec, Nonlinearity, OtherLevels, Scene
from datagen.schema import seconds_to_samples


def sample_scene(rng: np.random.Generator, cfg: AcousticsConfig, bank: RIRBank,
                 rooms: Sequence[int] | None = None) -> Scene:
    """Pick a room (from the bank indices ``rooms``, e.g. one side of a split; all by default) and sample every
    level and delay (in this order: the draws are part of the corpus bytes)."""
    index = int(rng.integers(len(bank))) if rooms is None else int(rooms[int(rng.integers(len(rooms)))])
    room = bank.rooms[index]
    system_delay = seconds_to_samples(float(rng.uniform(*cfg.system_delay_s)))
    acoustic_delay = room.direct_delay("loudspeaker")
    nonlinear = bool(rng.random() < cfg.nonlinearity_prob)
    other = OtherLevels(third_level_db=round(float(rng.uniform(*cfg.third_level_db)), 3),
                        background_level_db=round(float(rng.uniform(*cfg.background_level_db)), 3))
    noise = NoiseSpec(kind=str(cfg.noise_kinds[int(rng.integers(len(cfg.noise_kinds)))]),
                      snr_db=round(float(rng.uniform(*cfg.snr_db)), 3),
                      burst_level_db=round(float(rng.uniform(*cfg.burst_level_db)), 3))
    ser_db = round(float(rng.uniform(*cfg.ser_db)), 3)
    drive = round(float(rng.uniform(1.5, 4.0)), 3) if nonlinear else None
    echo = EchoSpec(echo_factor=float(cfg.echo_factor), ser_db=ser_db, system_delay_samples=system_delay,
                    acoustic_delay_samples=acoustic_delay, delay_samples=system_delay + acoustic_delay,
                    nonlinearity=Nonlinearity("tanh", drive) if drive is not None else None)
    return Scene(room=room.record(index, bank.key), user_rms=SPEECH_RMS, other=other, noise=noise, echo=echo)
