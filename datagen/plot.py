"""``duplexkit plot``: one dialogue on one time axis: the mic with its stems, the assistant channel, the turns
with their text, the events and every 80 ms label track; a person sees at a glance whether labels fit the audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datagen.common.figures import save_figure
from datagen.corpus import Corpus
from datagen.schema import LABEL_TRACKS, SAMPLE_RATE, frame_labels, frame_to_seconds

STEM_COLORS = {"user": "tab:blue", "echo": "tab:red", "other": "tab:purple", "noise": "tab:gray"}
SPEAKER_ROWS = {"user": 2, "assistant": 1, "third": 0}
EVENT_COLORS = {
    "user_turn": "tab:blue",
    "assistant_turn": "tab:orange",
    "user_pause": "gold",
    "user_backchannel": "tab:cyan",
    "assistant_backchannel": "tab:green",
    "interruption": "tab:red",
    "distractor": "tab:purple",
}


def _envelope(x: np.ndarray, hop: int = 160) -> tuple[np.ndarray, np.ndarray]:
    n = len(x) // hop
    env = np.abs(x[: n * hop]).reshape(n, hop).max(axis=1) if n else np.zeros(0)
    return np.arange(n) * hop / SAMPLE_RATE, env


def plot_dialogue(root: str | Path, dialogue_id: str, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpus = Corpus(root)
    d = corpus.dialogue(dialogue_id)
    audio = corpus.audio(dialogue_id)
    labels = frame_labels(d)
    fig, axes = plt.subplots(
        5, 1, figsize=(16, 11), sharex=True, gridspec_kw={"height_ratios": [2, 1.2, 1.4, 1.6, 2.4]}
    )
    ax = axes[0]
    for stem, color in STEM_COLORS.items():
        t, env = _envelope(audio[stem])
        ax.fill_between(t, -env, env, color=color, alpha=0.45, lw=0, label=f"stem {stem}")
    t, env = _envelope(audio["mic"])
    ax.plot(t, env, color="k", lw=0.5, label="mic (envelope)")
    ax.set_ylabel("mic")
    ax.legend(loc="upper right", fontsize=7, ncol=5)
    t, env = _envelope(audio["assistant"])
    axes[1].fill_between(t, -env, env, color="tab:orange", lw=0)
    axes[1].set_ylabel("assistant")
    ax = axes[2]
    for turn in d.turns:
        row = SPEAKER_ROWS[turn.speaker]
        s, e = turn.start / SAMPLE_RATE, turn.end / SAMPLE_RATE
        color = "tab:orange" if turn.speaker == "assistant" else ("tab:blue" if turn.speaker == "user" else "tab:purple")
        ax.broken_barh([(s, e - s)], (row - 0.35, 0.7), color=color, alpha=0.35 if turn.truncated else 0.6)
        text = turn.text if len(turn.text) < 40 else turn.text[:37] + "..."
        ax.text(s, row, f"{turn.kind}: {text}", fontsize=6, va="center", clip_on=True)
    ax.set_yticks(list(SPEAKER_ROWS.values()), list(SPEAKER_ROWS.keys()))
    ax.set_ylim(-0.6, 2.6)
    ax.set_ylabel("turns")
    ax = axes[3]
    types = list(EVENT_COLORS)
    for e in d.events:
        row = types.index(e.type)
        s, w = e.start / SAMPLE_RATE, max((e.end - e.start) / SAMPLE_RATE, 0.02)
        ax.broken_barh([(s, w)], (row - 0.4, 0.8), color=EVENT_COLORS[e.type], alpha=0.7)
        tag = e.context or e.kind or ""
        ax.text(s, row, f"{tag} → {e.expected}", fontsize=6, va="center", clip_on=True)
    ax.set_yticks(range(len(types)), types, fontsize=7)
    ax.set_ylabel("events")
    ax = axes[4]
    img = np.stack([labels[name] for name in LABEL_TRACKS]).astype(float)
    extent = (0, frame_to_seconds(d.num_frames), len(LABEL_TRACKS) - 0.5, -0.5)
    ax.imshow(img, aspect="auto", interpolation="nearest", cmap="Greys", extent=extent, vmin=0, vmax=1)
    ax.set_yticks(range(len(LABEL_TRACKS)), LABEL_TRACKS, fontsize=7)
    ax.set_ylabel("80 ms labels")
    ax.set_xlabel("time (s)")
    s = d.scene
    acoustics = (f"RT60={s.room.rt60_s} s  SER={s.echo.ser_db} dB  SNR={s.noise.snr_db} dB  "
                 f"echo_factor={s.echo.echo_factor}") if s is not None else "no scene"
    fig.suptitle(f"{d.id}  scenario={d.scenario}  {d.duration_s:.1f} s  {acoustics}", fontsize=10)
    return save_figure(fig, out, dpi=100)
