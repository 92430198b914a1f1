"""Human-readable reports of a bench run: ``report.md`` (plots beside it) and a self-contained ``report.html``.

Users look before they read: the report opens with the headline table, then the plots that explain it (latency
histograms, the barge-in confusion matrix and its echo sweep, and per-item timelines showing the mic, the model's
voice, its detected speech and the probes), and ends with the failures.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from benchmark.tasks import wrong_outcomes
from datagen.schema import SAMPLE_RATE

HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("turn_taking", "takeover_rate", "turn-taking: take-over rate (higher is better)"),
    ("turn_taking", "latency_s", "turn-taking: response latency, s"),
    ("turn_taking", "early_takeover_rate", "turn-taking: early take-over rate (lower is better)"),
    ("pause_handling", "takeover_rate", "pause handling: take-over rate in pauses (lower is better)"),
    ("backchannel", "continue_rate", "backchannel: keeps talking through user backchannels"),
    ("backchannel", "frequency_per_min", "backchannel: own backchannels per minute of long user turns"),
    ("backchannel", "reference_per_min", "backchannel: reference backchannels per minute"),
    ("backchannel", "jsd", "backchannel: JSD of its timing vs reference (lower is better)"),
    ("barge_in", "precision", "barge-in: precision"),
    ("barge_in", "recall", "barge-in: recall"),
    ("barge_in", "f1", "barge-in: F1"),
    ("barge_in", "stop_latency_s", "barge-in: stop latency, s"),
    ("barge_in", "n_scored", "barge-in: probes that found the model talking (scored)"),
    ("barge_in", "idle_rate", "barge-in: probes that found it silent already (not scored)"),
    ("echo", "self_interruption_rate", "echo: self-interruption rate (lower is better)"),
    ("echo", "qa_accuracy_echo", "echo: QA accuracy with echo"),
    ("echo", "qa_accuracy_no_echo", "echo: QA accuracy without echo"),
    ("qa", "s2t_accuracy", "spoken QA: accuracy from the text stream (S2T)"),
    ("qa", "s2s_accuracy", "spoken QA: accuracy from ASR of the audio (S2S)"),
)


def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


def headline_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, 95% interval) for every headline metric the run has."""
    rows = []
    agg = results["aggregates"]
    for task, key, label in HEADLINE:
        if task in agg:
            ci = agg[task].get(f"{key}_ci95")
            rows.append((label, _fmt(agg[task].get(key)), f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
    rows.append(("model real-time factor (compute s per audio s)", _fmt(results.get("rtf")), ""))
    return rows


# ------------------------------------------------------------------------------------------------------------------
# Plots
# ------------------------------------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latencies(results: Mapping[str, Any], out: Path) -> Path | None:
    agg = results["aggregates"]
    series = [(name, agg[task].get(key) or []) for task, key, name in (
        ("turn_taking", "latencies_s", "response latency (turn-taking)"),
        ("barge_in", "stop_latencies_s", "stop latency (caught barge-ins)"),
        ("backchannel", "latencies_s", "own backchannel latency after a cue"),
    ) if task in agg]
    series = [(n, v) for n, v in series if v]
    if not series:
        return None
    plt = _plt()
    from datagen.common.figures import save_figure

    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.0), squeeze=False)
    for ax, (name, values) in zip(axes[0], series):
        ax.hist(values, bins=np.arange(0, max(2.0, max(values) + 0.1), 0.1), color="tab:blue", alpha=0.8)
        ax.axvline(float(np.median(values)), color="k", ls="--", lw=1, label=f"median {np.median(values):.2f} s")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("s")
        ax.legend(fontsize=8)
    return save_figure(fig, out)


def plot_barge_in(results: Mapping[str, Any], out: Path) -> Path | None:
    b = results["aggregates"].get("barge_in")
    if not b or not (b.get("n_positive") or b.get("n_negative")):
        return None
    plt = _plt()
    from datagen.common.figures import save_figure

    tp, fn, fp = b["tp"], b["fn"], b["fp"]
    scored_neg = [r for r in results["items"] if r.get("probe") and not r.get("positive")
                  and r.get("outcome") in ("continued", "false_alarm") and r["echo_factor"] == 1.0]
    tn = sum(r["outcome"] == "continued" for r in scored_neg)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.2))
    m = np.array([[tp, fn], [fp, tn]])
    ax1.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax1.text(j, i, str(v), ha="center", va="center", fontsize=12, color="white" if v > m.max() / 2 else "black")
    ax1.set_xticks([0, 1], ["stopped", "kept talking"])
    ax1.set_yticks([0, 1], ["interruption", "negative"])
    ax1.set_title("barge-in at echo factor 1", fontsize=9)
    sweep = b.get("by_echo_factor", {})
    if sweep:
        xs = list(sweep)
        for key in ("precision", "recall", "f1"):
            ax2.plot(range(len(xs)), [sweep[x][key] for x in xs], marker="o", label=key)
        ax2.set_xticks(range(len(xs)), [f"echo {x}" for x in xs])
        ax2.set_ylim(-0.05, 1.05)
        ax2.legend(fontsize=8)
        ax2.set_title("barge-in vs echo factor", fontsize=9)
    return save_figure(fig, out)


def _item_audio(run_dir: Path, item_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """What the model heard and what it played in one item: its saved FLAC, else the copy in its trace (every
    finished item has one, read as ``duplexkit pairs`` reads it); None when neither reads."""
    from datagen.common.audio import decode_audio
    from datagen.common.errors import DuplexkitError
    from datagen.pairs.runs import TRACE_DIR, read_trace

    name = safe_name(item_id)
    flac, trace = run_dir / "audio" / f"{name}.flac", run_dir / TRACE_DIR / f"{name}.npz"
    try:
        if flac.is_file():
            stereo = decode_audio(flac.read_bytes(), str(flac))
            return stereo[:, 0], stereo[:, 1]
        if trace.is_file():
            tr = read_trace(trace)
            return tr.heard, tr.played
    except (OSError, ValueError, DuplexkitError):  # a damaged file (AudioError is a ValueError): no timeline
        pass
    return None


def timeline_items(records: Sequence[Mapping[str, Any]], limit: int) -> list[Mapping[str, Any]]:
    """Which items a report draws: first one per family (one it got wrong where there is one, echo factor 1
    preferred), then more wrong ones from dialogues not shown yet, then the rest in order; at most ``limit``."""
    scored = [r for r in records if not r.get("failure")]
    wrong = [bool(wrong_outcomes(r)) for r in scored]
    rank = sorted(range(len(scored)), key=lambda i: (not wrong[i], scored[i].get("echo_factor") != 1.0))
    picked = [next(i for i in rank if scored[i]["family"] == family)
              for family in dict.fromkeys(r["family"] for r in scored)]
    shown = {scored[i].get("dialogue") for i in picked}
    for i in rank:
        if wrong[i] and scored[i].get("dialogue") not in shown and i not in picked:
            picked.append(i)
            shown.add(scored[i].get("dialogue"))
    picked += [i for i, r in enumerate(scored) if r.get("echo_factor") == 1.0 and i not in picked]
    return [scored[i] for i in picked[:limit]]


def plot_timeline(record: Mapping[str, Any], run_dir: Path, out: Path) -> Path | None:
    """Both channels of one item, the model's detected speech and the probes on one time axis."""
    heard_played = _item_audio(run_dir, record["id"])
    if heard_played is None:
        return None
    heard, played = heard_played
    plt = _plt()
    from datagen.common.figures import save_figure

    t = np.arange(len(heard)) / SAMPLE_RATE
    fig, axes = plt.subplots(3, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]})
    axes[0].plot(t, heard, lw=0.4, color="tab:gray")
    axes[0].set_ylabel("mic\n(heard)", fontsize=8)
    axes[1].plot(t, played, lw=0.4, color="tab:blue")
    axes[1].set_ylabel("model\n(played)", fontsize=8)
    for s, e in record.get("model_speech_s", []):
        axes[2].axvspan(s, e, ymin=0.55, ymax=0.95, color="tab:blue", alpha=0.6)
    colors = {"user_turn": "tab:green", "user_pause": "tab:orange", "interruption": "tab:red"}
    for name, s, e in record.get("cues_s", []):
        axes[2].axvspan(s, e, ymin=0.05, ymax=0.45, color=colors.get(name, "tab:purple"), alpha=0.6)
        axes[2].text(s, 0.25, name, fontsize=7, va="center")
    if record.get("question_end_s") is not None:
        for ax in axes:
            ax.axvline(record["question_end_s"], color="k", lw=0.6, ls=":")
    axes[2].set_yticks([0.25, 0.75], ["probes", "model VAD"], fontsize=7)
    axes[2].set_xlabel("s")
    wrong = "; ".join(what for _, what in wrong_outcomes(record))
    outcome = record.get("outcome") or ("take-over" if record.get("takeover") else "no take-over")
    axes[0].set_title(f"{record['id']}  ({outcome}{': ' + wrong if wrong else ''})", fontsize=9)
    return save_figure(fig, out, dpi=80)


# ------------------------------------------------------------------------------------------------------------------
# Documents
# ------------------------------------------------------------------------------------------------------------------
def safe_name(name: str) -> str:
    """An item id as a file name (``/`` and other odd characters become ``_``)."""
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", name)


def timeline_path(run_dir: Path, record: Mapping[str, Any]) -> Path:
    """Where a run's report draws one item's timeline."""
    return Path(run_dir) / "plots" / f"timeline-{record['family']}-{safe_name(record['id'])}.png"


def write_reports(out: str | Path, results: Mapping[str, Any], max_timelines: int = 8) -> tuple[Path, Path]:
    out = Path(out)
    plots_dir = out / "plots"
    plots: list[tuple[str, Path]] = []
    p = plot_latencies(results, plots_dir / "latencies.png")
    if p:
        plots.append(("Latency histograms", p))
    p = plot_barge_in(results, plots_dir / "barge_in.png")
    if p:
        plots.append(("Barge-in confusion and echo sweep", p))
    for stale in plots_dir.glob("timeline-*.png"):  # a rescored run draws its own choice again
        stale.unlink()
    for rec in timeline_items(results["items"], max_timelines):
        p = plot_timeline(rec, out, timeline_path(out, rec))
        if p:
            plots.append((f"Timeline {rec['id']}", p))
    rows = headline_rows(results)
    failures = results.get("failures", {})
    meta = (f"model **{results['model']['name']}** on corpus `{results['corpus']['id']}` "
            f"({results['corpus']['dialogues']} dialogues, {results['corpus']['items']} items); "
            f"duplexkit results v{results['results_version']}, git {str(results.get('git_revision'))[:10]}")
    md = [f"# duplexkit bench report\n\n{meta}\n", "| metric | value | 95% CI |", "|---|---|---|"]
    md += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    md.append("\nDefinitions: `benchmark/metrics.py` and `benchmark/tasks.py` (task versions "
              + ", ".join(f"{k} {v}" for k, v in results["tasks"].items()) + ").\n")
    for title, path in plots:
        md.append(f"## {title}\n\n![{title}]({path.relative_to(out)})\n")
    md.append(f"## Failures\n\n{failures.get('count', 0)} item(s) failed.\n")
    md += [f"- `{f['id']}`: {f['reason']}" for f in failures.get("items", [])[:20]]
    md_path = out / "report.md"
    from datagen.common.files import atomic_write_text

    atomic_write_text(md_path, "\n".join(md) + "\n")

    def img(path: Path) -> str:
        data = base64.b64encode(path.read_bytes()).decode()
        return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'

    body = [f"<h1>duplexkit bench report</h1><p>{html.escape(meta).replace('**', '')}</p>",
            "<table><tr><th>metric</th><th>value</th><th>95% CI</th></tr>"]
    body += [f"<tr><td>{html.escape(a)}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows]
    body.append("</table>")
    for title, path in plots:
        body.append(f"<h2>{html.escape(title)}</h2>{img(path)}")
    body.append(f"<h2>Failures</h2><p>{failures.get('count', 0)} item(s) failed.</p><ul>")
    body += [f"<li><code>{html.escape(f['id'])}</code>: {html.escape(f['reason'])}</li>"
             for f in failures.get("items", [])[:20]]
    body.append("</ul><details><summary>aggregates (JSON)</summary><pre>"
                + html.escape(json.dumps(results["aggregates"], indent=1, default=str)) + "</pre></details>")
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>duplexkit bench</title><style>{style}</style>" \
           f"</head><body>{''.join(body)}</body></html>"
    html_path = out / "report.html"
    atomic_write_text(html_path, page)
    return md_path, html_path


def compare_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Models side by side on the headline metrics (``duplexkit bench compare``)."""
    names = [r["model"]["name"] for r in results]
    per = [dict((a, b) for a, b, _ in headline_rows(r)) for r in results]
    labels = [label for label, _, _ in headline_rows(results[0])]
    for p in per[1:]:
        labels += [k for k in p if k not in labels]
    width = max(len(x) for x in labels)
    lines = [" " * width + "  " + "  ".join(f"{n:>12}" for n in names)]
    for label in labels:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{p.get(label, 'n/a'):>12}" for p in per))
    return "\n".join(lines)
