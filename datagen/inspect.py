"""``duplexkit inspect``: what is in a corpus (hours, scenario mix, events) and how its timing compares with the
reference distributions it was drawn from (histograms in ``stats.json``, plotted against the reference curves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from datagen.corpus import Corpus
from datagen.distributions import REFERENCE, ClippedNormal

LABELS = {
    "response_gap": "assistant response gap (s)",
    "user_gap": "user gap after answer (s, <0 = overlap)",
    "pause": "in-turn user pause (s)",
    "decision_delay": "barge-in decision after its cue (s)",
    "barge_in_onset": "barge-in onset into answer (s)",
    "backchannel_interval": "user backchannel interval (s)",
    "backchannel_latency": "assistant backchannel latency (s)",
    "clause_pause": "clause pause (s)",
}


def inspect_corpus(root: str | Path) -> dict[str, Any]:
    corpus = Corpus(root)
    stats = corpus.stats()
    durations = np.array([d.duration_s for d in corpus]) if len(corpus) else np.zeros(0)
    mix = stats.get("scenario_mix", {})
    total = max(sum(mix.values()), 1)
    return {
        "root": str(Path(root).resolve()),
        "num_dialogues": len(corpus),
        "hours": stats.get("hours"),
        "minutes": round(float(durations.sum()) / 60.0, 2),
        "dialogue_seconds": {
            "mean": round(float(durations.mean()), 2) if durations.size else None,
            "min": round(float(durations.min()), 2) if durations.size else None,
            "max": round(float(durations.max()), 2) if durations.size else None,
        },
        "scenario_mix": {k: {"dialogues": v, "share": round(v / total, 3)} for k, v in mix.items()},
        "event_counts": stats.get("event_counts", {}),
        "timing": stats.get("timing", {}),
        "skipped": stats.get("skipped", {}),
        "generator": stats.get("generator", {}),
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"corpus {summary['root']}",
        f"  {summary['num_dialogues']} dialogues, {summary['minutes']} min ({summary['hours']} h); "
        f"dialogue length mean {summary['dialogue_seconds']['mean']} s "
        f"[{summary['dialogue_seconds']['min']}, {summary['dialogue_seconds']['max']}]",
        "  scenario mix:",
    ]
    for name, v in summary["scenario_mix"].items():
        lines.append(f"    {name:<26} {v['dialogues']:>5}  {100 * v['share']:5.1f}%")
    lines.append("  events:")
    for name, n in summary["event_counts"].items():
        lines.append(f"    {name:<44} {n:>6}")
    lines.append("  timing (corpus mean ± std vs reference N(mean, std)):")
    for name, h in summary["timing"].items():
        if not isinstance(h, dict) or "reference" not in h:
            continue
        ref = h["reference"]
        got = f"{h['mean']:+.3f} ± {h['std']:.3f} (n={h['n']})" if h.get("n") else "n=0"
        lines.append(f"    {name:<22} {got:<30} ref N({ref['mean']}, {ref['std']})")
    if summary["timing"].get("overlap_rate") is not None:
        lines.append(f"    overlap rate at speaker changes: {100 * summary['timing']['overlap_rate']:.1f}%")
    decisions = summary["timing"].get("decision_latency") or {}
    if decisions:
        lines.append("  barge-in decision latency after onset, per context (s):")
    for context, h in decisions.items():
        got = (f"n={h['n']}  mean {h['mean']:.3f}  min {h['min']:.3f}  max {h['max']:.3f}  p50 {h['p50']:.3f}"
               if h.get("n") else "n=0")
        lines.append(f"    {context:<22} {got}")
        if h.get("n"):
            lines.append(f"    {'':<22} {_bars(h)}")
    for source, info in (summary.get("skipped") or {}).items():
        lines.append(f"  skipped {source} items: {info.get('count', 0)}")
    return "\n".join(lines)


def _bars(h: dict[str, Any]) -> str:
    """A one-line text histogram: one character per bin, height by count ("|" marks the range's ends)."""
    ticks = " ▁▂▃▄▅▆▇█"
    counts = np.array(h["counts"], dtype=float)
    top = max(counts.max(), 1.0)
    bars = "".join(ticks[int(np.ceil(c / top * (len(ticks) - 1)))] for c in counts)
    return f"{h['edges'][0]:g} |{bars}| {h['edges'][-1]:g}" + (f"  (+{h['over']} over)" if h.get("over") else "")


def _drawn_from(name: str, h: dict[str, Any]) -> ClippedNormal:
    """The distribution a histogram's values were drawn from, as stats.json records it (older corpora recorded the
    built-in one whatever their config said: the built-in one then)."""
    try:
        return ClippedNormal(**h["reference"])
    except (KeyError, TypeError):
        return REFERENCE[name]


def plot_timing_histograms(root: str | Path, out: str | Path) -> Path:
    """One panel per timing quantity: the corpus histogram (density) over the reference density."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timing = Corpus(root).stats().get("timing", {})
    names = [n for n in REFERENCE if isinstance(timing.get(n), dict)]
    decisions = timing.get("decision_latency") or {}
    cols = 4
    rows = max(1, int(np.ceil((len(names) + len(decisions)) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(names) + len(decisions):]:
        ax.axis("off")
    for ax, (context, h) in zip(axes.flat[len(names):], decisions.items()):
        edges, counts = np.array(h["edges"]), np.array(h["counts"], dtype=float)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", alpha=0.6, color="C1")
        ax.set_title(f"barge-in decision after onset (s), {context}\nn={h['n']}", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax, name in zip(axes.flat, names):
        h = timing[name]
        edges = np.array(h["edges"])
        counts = np.array(h["counts"], dtype=float)
        width = np.diff(edges)
        if counts.sum() > 0:
            ax.bar(edges[:-1], counts / counts.sum() / width, width=width, align="edge", alpha=0.6, label="corpus")
        x = np.linspace(edges[0], edges[-1], 200)
        ax.plot(x, _drawn_from(name, h).pdf(x), "k-", lw=1.2, label="reference")
        ax.set_title(f"{LABELS.get(name, name)}\nn={h['n']}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes.flat[0].legend(fontsize=8)
    from datagen.common.figures import save_figure

    return save_figure(fig, out, dpi=110)
