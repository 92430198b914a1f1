"""Room acoustics: simulated rooms, per-dialogue scenes, noise and the echo path (the mix is :mod:`datagen.render`).

``config``   :class:`AcousticsConfig`, the ranges scenes are drawn from (validated)
``rooms``    pyroomacoustics ShoeBox rooms and the cached :class:`RIRBank`
``scenes``   :func:`sample_scene`: a bank room and every level and delay, as a typed :class:`datagen.scene.Scene`
``noise``    the stationary noise floor and short noise bursts
``signals``  room convolution of mostly-silent dry tracks
``echo``     the assistant's path to the mic and the gain that meets the scene's SER

Levels: pyroomacoustics does not calibrate levels, so every stem is normalised to what the scene samples (user at
:data:`datagen.levels.SPEECH_RMS`, echo at an SER below it, noise at an SNR, others relative to the user);
``echo_factor`` scales the echo afterwards (0 = no echo), so a sweep over it changes nothing else.
"""

from datagen.acoustics.config import NOISE_KINDS, AcousticsConfig
from datagen.acoustics.echo import echo_gain_for_ser, render_echo, unit_echo_gain
from datagen.acoustics.noise import colored_noise, random_noise_burst
from datagen.acoustics.rooms import RIRBank, Room, simulate_room
from datagen.acoustics.scenes import sample_scene
from datagen.acoustics.signals import convolve

__all__ = ["AcousticsConfig", "NOISE_KINDS", "RIRBank", "Room", "colored_noise", "convolve", "echo_gain_for_ser",
           "random_noise_burst", "render_echo", "sample_scene", "simulate_room", "unit_echo_gain"]
