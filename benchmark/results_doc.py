"""``docs/results.md`` written from results files, never by hand: the learning demonstration's tables and plots.

Input is a mapping label -> ``results.json`` of runs on one held-out test corpus, plus optional training run
folders (their ``loss.png`` / ``dpo.png`` are copied beside the page).  Every number on the page is read from those
files, with its 95% bootstrap interval and n where the run has one, so the page can be regenerated at any time
(``duplexkit reproduce`` does so as its last step).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmark.items import BARGE_IN_NEGATIVES
from benchmark.report import safe_name, timeline_items, timeline_path
from benchmark.tasks import wrong_outcomes
from datagen.common.files import atomic_write_text, shown_path

# (column, task, key, echo factor or None, lower is better)
HEADLINE: tuple[tuple[str, str, str, str | None, bool], ...] = (
    ("take-over ef0", "turn_taking", "takeover_rate", "0", False),
    ("take-over ef1", "turn_taking", "takeover_rate", "1", False),
    ("latency s ef1", "turn_taking", "latency_s", "1", True),
    ("pause take-over ef1", "pause_handling", "takeover_rate", None, True),  # the task runs at echo 1 only
    ("barge-in F1 ef0", "barge_in", "f1", "0", False),
    ("barge-in F1 ef1", "barge_in", "f1", "1", False),
    ("self-interruption ef1", "echo", "self_interruption_rate", "1", True),
    ("backchannel continue ef1", "backchannel", "continue_rate", None, False),  # likewise
    ("QA S2T", "qa", "s2t_accuracy", None, False),
)

# The targets for a trained model at echo factor 1: (label, task, key, factor, test on the value).
TARGETS: tuple[tuple[str, str, str, str | None, str, Any], ...] = (
    ("turn-taking take-over rate >= 0.95", "turn_taking", "takeover_rate", "1", ">=", 0.95),
    ("turn-taking latency <= 0.6 s", "turn_taking", "latency_s", "1", "<=", 0.6),
    ("pause take-over <= 0.10", "pause_handling", "takeover_rate", None, "<=", 0.10),
    ("barge-in F1, context-independent >= 0.90", "barge_in", "independent.f1", "1", ">=", 0.90),
    ("barge-in F1, context-dependent >= 0.80", "barge_in", "dependent.f1", "1", ">=", 0.80),
    ("self-interruption at echo 1 <= 0.05", "echo", "self_interruption_rate", "1", "<=", 0.05),
    ("backchannel continue rate >= 0.95", "backchannel", "continue_rate", None, ">=", 0.95),
)

SUBSETS = (("independent", "context-independent"), ("dependent", "context-dependent"),
           ("speaker_user", "by the user"), ("speaker_third", "by a third speaker"))

# column names for the barge-in probes a model should not stop for (the kinds are ``BARGE_IN_NEGATIVES``)
FALSE_STOP_LABELS = {"user_backchannel": "user backchannel", "talking_to_others": "user talking to others",
                     "unrelated_question": "third person's unrelated question",
                     "silence": "silence (its own echo only)"}


def _section(agg: Mapping[str, Any], task: str, factor: str | None) -> Mapping[str, Any] | None:
    sec = agg.get(task)
    if sec is None:
        return None
    if factor is not None and "by_echo_factor" in sec:
        return sec["by_echo_factor"].get(factor)
    return sec


def _get(sec: Mapping[str, Any] | None, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(sec, Mapping):
            return None
        sec = sec.get(part)
    return sec


def _counts(sec: Any, task: str, key: str) -> tuple[Any, Any]:
    """(n, dialogues they come from) behind one metric of an aggregate section; None where not recorded."""
    if not isinstance(sec, Mapping):
        return None, None
    if task == "barge_in":
        if "." not in key:
            return sec.get("n_positive"), sec.get("n_positive_dialogues")
        sub = _get(sec, key.rsplit(".", 1)[0]) or {}
        return (sub.get("tp", 0) + sub.get("fn", 0)) or None, None
    if task == "backchannel":
        return sec.get("n_user_backchannels"), sec.get("n_user_backchannel_dialogues")
    return sec.get("n"), sec.get("n_dialogues")


def metric(results: Mapping[str, Any], task: str, key: str, factor: str | None) -> tuple[Any, Any, Any]:
    """(value, 95% interval or None, n or None) of one metric of a run."""
    sec = _section(results["aggregates"], task, factor)
    return _get(sec, key), _get(sec, f"{key}_ci95"), _counts(sec, task, key)[0]


def dialogues(results: Mapping[str, Any], task: str, key: str, factor: str | None) -> Any:
    """How many dialogues the n of :func:`metric` comes from (None in results made before metrics 1.2)."""
    return _counts(_section(results["aggregates"], task, factor), task, key)[1]


def _cell(value: Any, ci: Any, n: Any, dialogues: Any = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    if ci:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    if n is not None:
        text += f" (n={n}" + (f", {dialogues} dlg)" if dialogues is not None else ")")
    return text


def headline_table(runs: Mapping[str, Mapping[str, Any]]) -> str:
    head = "| model | " + " | ".join(c for c, *_ in HEADLINE) + " |"
    lines = [head, "|" + "---|" * (len(HEADLINE) + 1)]
    for label, res in runs.items():
        cells = [_cell(*metric(res, task, key, f), dialogues(res, task, key, f)) for _, task, key, f, _ in HEADLINE]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def subset_table(before: Mapping[str, Any], after: Mapping[str, Any], factor: str = "1") -> str:
    lines = ["| barge-in subset | precision before | precision after | recall before | recall after | F1 before | "
             "F1 after | change in F1 |", "|---|---|---|---|---|---|---|---|"]
    for key, name in (("", "all"), *SUBSETS):
        row = [name]
        vals = {}
        for stat in ("precision", "recall", "f1"):
            for tag, res in (("b", before), ("a", after)):
                v = _get(_section(res["aggregates"], "barge_in", factor), f"{key}.{stat}" if key else stat)
                vals[tag + stat] = v
                row.append("n/a" if v is None else f"{v:.3f}")
        b, a = vals["bf1"], vals["af1"]
        row.append("n/a" if a is None or b is None else f"{a - b:+.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def stops_table(runs: Mapping[str, Mapping[str, Any]], factor: str = "1") -> str:
    """What each model stopped for while speaking: its recall on interruptions and its stop rate for each probe it
    should talk through, as stopped / scored (``false_alarms``; results without the counts give the rate alone).
    Telling apart a model that does not hear speech (low recall, few false stops) from one that hears it but not
    whom it is for (high recall, many false stops) is what the F1 column cannot."""
    secs = {label: _section(res["aggregates"], "barge_in", factor) for label, res in runs.items()}
    secs = {label: sec for label, sec in secs.items() if sec and sec.get("n_scored", 1)}

    def share(k: Any, n: Any) -> str:
        return "n/a" if not n else f"{k / n:.2f} ({k}/{n})"

    def false_stop(sec: Mapping[str, Any], kind: str) -> str:
        counts, rate = (sec.get("false_alarms") or {}).get(kind), (sec.get("false_alarm_rate") or {}).get(kind)
        return share(counts["stopped"], counts["n"]) if counts else "n/a" if rate is None else f"{rate:.2f}"

    kinds = [(k, FALSE_STOP_LABELS.get(k, k.replace("_", " "))) for k in BARGE_IN_NEGATIVES
             if any(false_stop(sec, k) != "n/a" for sec in secs.values())]
    lines = ["| model | interruption, independent | interruption, dependent | " + " | ".join(c for _, c in kinds) + " |",
             "|" + "---|" * (len(kinds) + 3)]
    for label, sec in secs.items():
        subs = [sec.get(sub) or {} for sub in ("independent", "dependent")]
        cells = [share(sub.get("tp") or 0, (sub.get("tp") or 0) + (sub.get("fn") or 0)) for sub in subs]
        cells += [false_stop(sec, kind) for kind, _ in kinds]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_table(res: Mapping[str, Any], qa_baseline: tuple[str, Mapping[str, Any]] | None = None) -> str:
    """The issue's targets for one run; with ``qa_baseline`` (label, results on the same test corpus) also its
    relative one: spoken QA (S2T) above that baseline's on the same items (the ``small`` target)."""
    lines = ["| target (echo factor 1, held-out test) | measured | met |", "|---|---|---|"]
    # a model that never takes the turn holds through every pause: that is no pause handling
    silent = metric(res, "turn_taking", "takeover_rate", "1")[0] == 0
    for label, task, key, factor, op, bound in TARGETS:
        value, ci, n = metric(res, task, key, factor)
        dlg = dialogues(res, task, key, factor)
        met = "n/a" if value is None else ("yes" if (value >= bound if op == ">=" else value <= bound) else "**no**")
        if task == "pause_handling" and silent and met == "yes":
            met = "**no** (vacuous: it takes no turn at all)"
        lines.append(f"| {label} | {_cell(value, ci, n, dlg)} | {met} |")
    if qa_baseline is not None:
        name, base = qa_baseline
        value, ci, n = metric(res, "qa", "s2t_accuracy", "1")
        bound = metric(base, "qa", "s2t_accuracy", "1")[0]
        met = "n/a" if value is None or bound is None else ("yes" if value > bound else "**no**")
        lines.append(f"| QA S2T above {name} on the same items ({'n/a' if bound is None else f'{bound:.3f}'}) | "
                     f"{_cell(value, ci, n, dialogues(res, 'qa', 's2t_accuracy', '1'))} | {met} |")
    return "\n".join(lines)


def failures(res: Mapping[str, Any], examples: int = 2) -> list[str]:
    """What still fails in a run, as a table: each kind of wrong outcome (``benchmark.tasks.wrong_outcomes``, the
    aggregates' own rules) with how many items and dialogues it hit, at which echo factors, and example item ids
    from different dialogues (echo factor 1 first)."""
    kinds: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for it in res.get("items", []):
        for kind in wrong_outcomes(it):
            kinds.setdefault(kind, []).append(it)
    if not kinds:
        return ["Nothing: every scored item went right."]
    lines = ["| task | what went wrong | items | dialogues | echo factors | examples |", "|---|---|---|---|---|---|"]
    for (task, what), items in sorted(kinds.items(), key=lambda kv: (kv[0][0], -len(kv[1]), kv[0][1])):
        picked: list[str] = []
        seen: set[Any] = set()
        for it in sorted(items, key=lambda it: it.get("echo_factor") != 1.0):
            if it.get("dialogue") not in seen and len(picked) < examples:
                picked.append(f"`{it['id']}`")
                seen.add(it.get("dialogue"))
        factors = ", ".join(f"{f:g}" for f in sorted({it.get("echo_factor", 0.0) for it in items}))
        lines.append(f"| {task} | {what} | {len(items)} | {len({it.get('dialogue') for it in items})} | {factors} "
                     f"| {', '.join(picked)} |")
    return lines


def timeline_plots(run_dir: Path, results: Mapping[str, Any]) -> list[Path]:
    """The bench report's timeline of the item it drew for each family (``benchmark.report.timeline_items`` draws
    those first)."""
    items = results.get("items", [])
    families = {r["family"] for r in items if not r.get("failure")}
    return [p for p in (timeline_path(run_dir, r) for r in timeline_items(items, len(families))) if p.is_file()]


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _row_table(rows: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]], first: str | None) -> list[str]:
    """A Markdown table of flat records (``first``: the column holding each record's name, for a mapping)."""
    named = list(rows.items()) if isinstance(rows, Mapping) else [(None, r) for r in rows]
    cols = list(dict.fromkeys(k for _, r in named for k in r))
    head = ([first] if first else []) + cols
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in named:
        cells = ([str(name)] if first else []) + [str(r.get(c, "")) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def settings(context: Mapping[str, Any]) -> list[str]:
    """``context`` drawn for a reader: scalars and flat mappings as list items, records (a mapping or list of flat
    mappings, e.g. the corpora or a sweep's grid) as tables, anything deeper one level down under its own heading,
    and the rest as JSON."""
    flat: list[str] = []
    blocks: list[str] = []

    def records(v: Any) -> bool:
        items = list(v.values()) if isinstance(v, Mapping) else v if isinstance(v, list) else None
        return bool(items) and all(isinstance(r, Mapping) and all(_scalar(x) for x in r.values()) for r in items)

    def item(key: str, v: Any, out: list[str]) -> bool:
        if _scalar(v):
            out.append(f"- {key}: {v}")
        elif isinstance(v, list) and all(_scalar(x) for x in v):
            out.append(f"- {key}: " + "; ".join(map(str, v)))
        elif isinstance(v, Mapping) and all(_scalar(x) for x in v.values()):
            out.append(f"- {key}: " + ", ".join(f"{k} {x}" for k, x in v.items()))
        else:
            return False
        return True

    for key, value in context.items():
        if item(key, value, flat):
            continue
        blocks += ["", f"### {key}", ""]
        if records(value):
            blocks += _row_table(value, "name" if isinstance(value, Mapping) else None)
            continue
        if not isinstance(value, Mapping):
            blocks += ["```", json.dumps(value, indent=1, default=str), "```"]
            continue
        later: list[str] = []  # a section's list items first, then its tables and JSON
        for k, v in value.items():
            if records(v):
                later += ["", f"{k}:", "", *_row_table(v, "name" if isinstance(v, Mapping) else None)]
            elif not item(k, v, blocks):
                later += ["", f"{k}:", "", "```", json.dumps(v, indent=1, default=str), "```"]
        blocks += later
    return flat + blocks


def write_results_doc(out_md: str | Path, runs: Mapping[str, str | Path], context: Mapping[str, Any],
                      train_runs: Mapping[str, str | Path] | None = None, sft: str | None = None,
                      dpo: str | None = None, notes: Sequence[str] = (), implicit: str | None = None,
                      explicit: str | None = None, qa_baseline: str | None = None, notice: str | None = None,
                      final: str | None = None, final_why: str = "") -> Path:
    """Write the page and copy the training plots into ``<out_md stem>/``; returns the page path.  ``sft``/``dpo``:
    the rows compared per barge-in subset and held to the targets; ``implicit`` is compared with ``explicit``
    (default ``sft``): the ablation's two arms under the same decision settings; ``qa_baseline``: the row whose
    spoken-QA (S2T) score the target model must beat on the same items; ``final``: the row held to the targets
    (default ``dpo``, else ``sft``), with ``final_why`` said above them; ``notice``: said in bold above the tables
    (e.g. that the run stopped early); ``context``: the run's settings, drawn last (:func:`settings`)."""
    explicit = explicit or sft
    out_md = Path(out_md)
    if sft not in runs and explicit in runs:  # a run stopped before its val-tuned row: the argmax row stands in
        sft = explicit
    assets = out_md.with_suffix("")
    assets.mkdir(parents=True, exist_ok=True)
    for stale in assets.glob("*.png"):  # the folder holds this page's plots only
        stale.unlink()
    loaded = {label: json.loads(Path(p).read_text()) for label, p in runs.items()}
    parts = [
        "# Results: what a model learns from duplexkit data",
        "",
        "Generated by `duplexkit reproduce` from the results files listed under Sources; do not edit by hand. How the "
        "run was made (corpora, steps, what val chose) is under Run settings.",
        "",
        *([f"**{notice}**", ""] if notice else []),
        "## Every model on the held-out test corpus (closed loop)",
        "",
        "Each cell: value [95% interval] (n items, from how many dialogues). The interval is a bootstrap over "
        "dialogues (items of one dialogue share its voices, room and lines, so they are not independent); "
        "ef = echo factor (0: no echo of the model's own voice; 1: the scene's echo path at full level).",
        "",
        headline_table(loaded),
    ]
    target_model = final if final in loaded else dpo if dpo in loaded else sft
    if target_model in loaded:
        qa = (qa_baseline, loaded[qa_baseline]) if qa_baseline in loaded else None
        parts += ["", f"## Targets ({target_model})", "", *([final_why, ""] if final_why and target_model == final
                                                            else []), targets_table(loaded[target_model], qa)]
    if sft and dpo and sft in loaded and dpo in loaded:
        parts += ["", f"## SFT -> DPO per barge-in subset ({sft} -> {dpo}, echo factor 1)", "",
                  subset_table(loaded[sft], loaded[dpo])]
    if any(_section(res["aggregates"], "barge_in", "1") for res in loaded.values()):
        parts += ["", "## What each model stops for (echo factor 1)", "",
                  "Share of the probes met while it was speaking that it stopped for (stopped / scored). The "
                  "interruption columns should be 1 and the rest 0: a model that stops for interruptions and for other "
                  "speech alike hears speech but not whom it is for.", "", stops_table(loaded)]
    if explicit in loaded and implicit in loaded:
        parts += ["", "## Explicit vs implicit thinking at the same budget (paper Table 2)", "",
                  "Explicit: the state token of each block is fed back; implicit: `<think>` is not.", "",
                  headline_table({f"{explicit} (explicit)": loaded[explicit], implicit: loaded[implicit]})]
    for label, res in loaded.items():
        if label in (sft, dpo):
            parts += ["", f"### What still fails: {label}", ""] + failures(res)
    if train_runs:
        parts += ["", "## Training curves", ""]
        for label, run in train_runs.items():
            for plot in ("loss.png", "dpo.png"):
                src = Path(run) / plot
                if src.is_file():
                    dst = assets / safe_name(f"{label}-{plot}")
                    shutil.copyfile(src, dst)
                    parts += [f"![{label} {plot}]({assets.name}/{dst.name})", ""]
    for label, p in runs.items():
        if label not in (sft, dpo):
            continue
        plots = [q for q in [Path(p).parent / "plots" / "barge_in.png"] if q.is_file()]
        plots += timeline_plots(Path(p).parent, loaded[label])
        if plots:
            parts += ["", f"## Timelines: {label}", "",
                      "The barge-in confusion matrix and echo sweep, then one item per task family (one the model got "
                      "wrong where there is one), drawn by the bench report: the mic it heard, what it played, its "
                      "detected speech and the probes.", ""]
            for src in plots:
                dst = assets / safe_name(f"{label}-{src.name}")  # no spaces: Markdown links break on them
                shutil.copyfile(src, dst)
                parts += [f"![{label} {src.stem}]({assets.name}/{dst.name})", ""]
    if notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    parts += ["", "## Run settings", "", *settings(context)]
    # a run's files by their place in the run's folder (the page's), not by the machine that ran it
    shown = {label: shown_path(p, out_md.parent) for label, p in runs.items()}
    relative = any(not Path(p).is_absolute() for p in shown.values())
    parts += ["", "## Sources", "", *(["Relative paths are inside the run's folder (`--out`).", ""] if relative else [])]
    parts += [f"- {label}: `{p}`" for label, p in shown.items()]
    atomic_write_text(out_md, "\n".join(parts) + "\n")
    return out_md
