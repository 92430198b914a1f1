"""From planned clips to audio: the dry tracks, then the room and the mix (stems, mic, assistant channel).

Dry tracks are what each source emits before the room: ``user`` (the user's voice), ``assistant`` (what the
assistant played: this *is* the assistant channel), ``third`` and ``background`` (other speech) and ``bursts``
(noise events).  The mix puts every stem at the level its scene samples (the user at :data:`SPEECH_RMS`, the echo
at the SER below it times ``echo_factor``, noise at the SNR, others relative to the user), then scales everything
down together if the mic would clip.  Rendering returns the gains it applied; the caller records them in the
scene (:meth:`datagen.scene.Scene.rendered`): this module never edits a scene.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from datagen.acoustics.echo import echo_gain_for_ser, render_echo
from datagen.acoustics.noise import colored_noise
from datagen.acoustics.rooms import RIRBank
from datagen.acoustics.signals import convolve
from datagen.levels import SPEECH_RMS, active_rms, db_to_gain
from datagen.scene import Gains, Scene
from datagen.timeline import TRACKS, Clip

MIC_PEAK = 0.95  # the mic (and every stem with it) is scaled down when it would clip


def dry_tracks(clips: Iterable[Clip], num_samples: int) -> dict[str, np.ndarray]:
    """Sum the clips into one float32 array per track (overlapping clips on one track add up)."""
    tracks = {name: np.zeros(num_samples, np.float32) for name in TRACKS}
    for clip in clips:
        end = min(clip.start + len(clip.audio), num_samples)
        if end > clip.start:
            tracks[clip.track][clip.start : end] += clip.audio[: end - clip.start]
    return tracks


def _scaled(x: np.ndarray, target_rms: float) -> tuple[np.ndarray, float]:
    level = active_rms(x)
    if level <= 0:
        return np.zeros_like(x), 0.0
    g = target_rms / level
    return (x * np.float32(g)).astype(np.float32), g


def render_mic(
    scene: Scene,
    dry: Mapping[str, np.ndarray],
    bank: RIRBank,
    rng: np.random.Generator,
    bursts: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], Gains]:
    """Dry tracks (``user``, ``assistant``, ``other``, ``background``) -> stems and ``mic`` (their exact sum).

    Returns the stems and the gains applied (each stem's scale after the room, ``echo`` being the gain that
    :func:`render_echo` reproduces, and ``mic_scale`` the anti-clipping factor already folded into all of them).
    """
    room = bank.room_of(scene)
    n = len(dry["user"])
    ref = SPEECH_RMS
    user, g_user = _scaled(convolve(dry["user"], room.rirs["user"]), ref)
    third, g_third = _scaled(convolve(dry["other"], room.rirs["third"]), ref * db_to_gain(scene.other.third_level_db))
    background, g_bg = _scaled(
        convolve(dry["background"], room.rirs["noise"]), ref * db_to_gain(scene.other.background_level_db)
    )
    # The echo's level is set by the SER at echo_factor 1 (measured on the echo as rendered), then scaled.
    unit_echo = render_echo(dry["assistant"], scene, bank, 1.0)
    g_echo = echo_gain_for_ser(active_rms(unit_echo), scene.echo.ser_db) * float(scene.echo.echo_factor)
    echo = (unit_echo * np.float32(g_echo)).astype(np.float32)
    floor_rms = ref / db_to_gain(scene.noise.snr_db)
    floor = colored_noise(rng, scene.noise.kind, n) * np.float32(floor_rms)
    g_burst = 0.0
    if bursts is not None and bursts.any():
        wet_bursts, g_burst = _scaled(convolve(bursts, room.rirs["noise"]), ref * db_to_gain(scene.noise.burst_level_db))
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
    gains = Gains(user=float(g_user * scale), third=float(g_third * scale), background=float(g_bg * scale),
                  echo=float(g_echo * scale), noise_floor_rms=float(floor_rms * scale),
                  bursts=float(g_burst * scale), mic_scale=float(scale), output_scale=1.0)
    return stems, gains


def render_audio(
    clips: Iterable[Clip], num_samples: int, scene: Scene, bank: RIRBank, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], Gains]:
    """A planned dialogue through its scene: the channels and stems of ARCHITECTURE.md, and the gains applied."""
    dry = dry_tracks(clips, num_samples)
    stems, gains = render_mic(
        scene,
        {"user": dry["user"], "assistant": dry["assistant"], "other": dry["third"], "background": dry["background"]},
        bank,
        rng,
        bursts=dry["bursts"],
    )
    assistant = dry["assistant"] * np.float32(gains.output_scale)
    audio = {
        "mic": stems["mic"],
        "assistant": assistant.astype(np.float32),
        "user": stems["user"],
        "echo": stems["echo"],
        "other": stems["other"],
        "noise": stems["noise"],
    }
    return audio, gains
