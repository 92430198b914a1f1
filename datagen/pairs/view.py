"""``duplexkit inspect PAIRS`` (counts per kind, source and outcome, and one example of each kind from the text view)
and ``duplexkit plot PAIRS ID`` (both branches on one time axis: mic, assistant channel and the token streams)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from datagen.common.figures import save_figure
from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE, frame_to_seconds

from .build import TEXT_VIEW
from .record import DEFINITION, PairSet, PairsError


def is_pair_set(root: str | Path) -> bool:
    return (Path(root) / DEFINITION).is_file()


def _tail(text: str, words: int = 16) -> str:
    parts = text.split()
    return ("... " if len(parts) > words else "") + " ".join(parts[-words:])


def inspect_pairs(root: str | Path) -> dict[str, Any]:
    ps = PairSet(root)
    ps.check_finished()
    examples: dict[str, dict[str, Any]] = {}
    view = Path(root) / TEXT_VIEW
    if view.is_file():
        for line in view.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            examples.setdefault(f"{row['kind']}:{'labels' if row['source'] == 'labels' else 'run'}", row)
    return {"root": str(root), "definition": {k: ps.definition[k] for k in ("corpus", "kinds", "context_blocks",
                                                                              "span_blocks", "tokens")},
            "runs": [r["name"] for r in ps.definition.get("runs", [])], "stats": ps.stats, "examples": examples}


def format_pairs_summary(s: dict[str, Any]) -> str:
    st = s["stats"]
    lines = [f"pair set {s['root']}: {st['num_pairs']} pairs from corpus {s['definition']['corpus']['id']}"
             + (f" and runs {', '.join(s['runs'])}" if s["runs"] else ""),
             f"  tokens: {s['definition']['tokens']}; context {s['definition']['context_blocks']} blocks, span <= "
             f"{s['definition']['span_blocks']} (mean {st['span_blocks']['mean']}, one-block {st['span_blocks']['one_block']})",
             "  kind                 " + "  ".join(f"{src:>18}" for src in st["sources"])]
    for kind in st["kinds"]:
        lines.append(f"  {kind:<20} " + "  ".join(f"{st['sources'][src].get(kind, 0):>18}" for src in st["sources"]))
    if st.get("outcomes"):
        lines.append("  outcomes: " + ", ".join(f"{k} {v}" for k, v in st["outcomes"].items()))
    if st.get("skipped"):
        lines.append("  wrong outcomes without a pair: " + ", ".join(f"{k} {v}" for k, v in st["skipped"].items()))
    lines.append("examples (prompt tail | chosen | rejected):")
    for key, row in s["examples"].items():
        lines.append(f"  [{key}] {row['id']}")
        lines.append(f"     prompt   {_tail(row['prompt'])}")
        lines.append(f"     chosen   {row['chosen']}")
        lines.append(f"     rejected {row['rejected']}")
    return "\n".join(lines)


def plot_pair(root: str | Path, pair_id: str, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = PairSet(root)
    pair = next((p for p in ps if p.id == pair_id), None)
    if pair is None:
        view = Path(root) / TEXT_VIEW
        sample = [json.loads(x)["id"] for x in view.read_text().splitlines()[:3]] if view.is_file() else []
        raise PairsError(f"{root}: no pair {pair_id!r} (ids look like {', '.join(sample)})")
    d, e = pair.span
    t0 = pair.start / SAMPLE_RATE
    fig, axes = plt.subplots(3, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.4]})
    colors = {"chosen": "tab:green", "rejected": "tab:red"}
    for branch in ("rejected", "chosen"):
        mic, asst, tok = pair.inputs(branch)
        t = t0 + np.arange(len(mic)) / SAMPLE_RATE
        axes[0].plot(t, mic, color=colors[branch], lw=0.5, alpha=0.8, label=f"mic ({branch})")
        axes[1].plot(t, asst, color=colors[branch], lw=0.5, alpha=0.8, label=f"assistant ({branch})")
    for ax in axes[:2]:
        ax.axvspan(t0 + frame_to_seconds(d), t0 + frame_to_seconds(e), color="gold", alpha=0.25)
        ax.legend(loc="upper left", fontsize=7)
    axes[0].plot(t0 + np.arange(len(pair.mic)) / SAMPLE_RATE, pair.mic, color="0.3", lw=0.5)
    axes[1].plot(t0 + np.arange(len(pair.assistant)) / SAMPLE_RATE, pair.assistant, color="0.3", lw=0.5)
    axes[0].set_ylabel("mic")
    axes[1].set_ylabel("assistant")
    for row, branch in ((1, "chosen"), (0, "rejected")):
        _, _, tok = pair.inputs(branch)
        for k, tid in enumerate(tok):
            x = t0 + frame_to_seconds(k)
            scored = d <= k < e
            axes[2].add_patch(plt.Rectangle((x, row - 0.4), BLOCK_SAMPLES / SAMPLE_RATE, 0.8,
                                            color=colors[branch] if scored else "0.85", alpha=0.9 if scored else 0.6))
            if scored:
                axes[2].text(x + 0.04, row, str(int(tid)), fontsize=5, rotation=90, va="center", ha="center")
    axes[2].set_yticks([0, 1], ["rejected", "chosen"])
    axes[2].set_ylim(-0.6, 1.6)
    axes[2].axvline(t0 + frame_to_seconds(d), color="k", lw=0.8, ls="--")
    axes[2].set_xlabel("time in the dialogue (s)" if pair.source == "labels" else "time in the item (s)")
    fig.suptitle(f"{pair.id}  kind {pair.kind}  {pair.outcome or pair.source}  divergence block {d}, span {d}..{e - 1}"
                 f"  (scored token ids shown)", fontsize=9)
    return save_figure(fig, out)
