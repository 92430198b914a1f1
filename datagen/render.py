"""From planned clips to audio: the dry tracks, then the room (``datagen.acoustics``) gives stems and the mic.

Dry tracks are what each source emits before the room: ``user`` (the user's voice), ``assistant`` (what the
assistant played: this *is* the assistant channel), ``third`` and ``background`` (other speech) and ``bursts``
(noise events).  The returned audio dict has the channel and stem names of ARCHITECTURE.md.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from datagen.timeline import TRACKS, Clip


def dry_tracks(clips: Iterable[Clip], num_samples: int) -> dict[str, np.ndarray]:
    """Sum the clips into one float32 array per track (overlapping clips on one track add up)."""
    tracks = {name: np.zeros(num_samples, np.float32) for name in TRACKS}
    for clip in clips:
        end = min(clip.start + len(clip.audio), num_samples)
        if end > clip.start:
            tracks[clip.track][clip.start : end] += clip.audio[: end - clip.start]
    return tracks


def render_audio(
    clips: Iterable[Clip], num_samples: int, scene: dict[str, Any], bank: Any, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Render a planned dialogue through its scene; records the applied gains in ``scene`` (what was rendered)."""
    from datagen.acoustics import render_mic

    dry = dry_tracks(clips, num_samples)
    stems, gains = render_mic(
        scene,
        {"user": dry["user"], "assistant": dry["assistant"], "other": dry["third"], "background": dry["background"]},
        bank,
        rng,
        bursts=dry["bursts"],
    )
    scene["gains"] = {k: float(v) for k, v in gains.items()}
    scene["echo"]["gain"] = float(gains["echo"])
    assistant = dry["assistant"] * np.float32(gains.get("output_scale", 1.0))
    return {
        "mic": stems["mic"],
        "assistant": assistant.astype(np.float32),
        "user": stems["user"],
        "echo": stems["echo"],
        "other": stems["other"],
        "noise": stems["noise"],
    }
