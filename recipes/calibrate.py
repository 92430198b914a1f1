"""``duplexkit calibrate --checkpoint CKPT --data VAL --out DIR``: set a trained model's ``decision`` offsets on a
validation corpus.

Why: training weighs ``<shift>`` about 25 times ``<think>`` (``loss.shift`` / ``loss.think``), without which the
model never shifts, but the same weights lower the argmax threshold for ``<shift>`` to a few per cent, so a greedy
stream takes the turn while the user is still talking and stops itself mid-answer (measured on tiny: 2.6 predicted
``<shift>`` per target).  A logit offset on ``<shift>`` per mode moves the threshold back without retraining.

How it is chosen: teacher-forced logits over every validation dialogue, split into the runs of one mode (a run
ends at its target ``<shift>``, or at the dialogue's end when none is due).  With an offset ``b``, what a greedy
stream would do first in a run is the first block whose ``<shift>`` margin (its logit minus the best other
allowed token) plus ``b`` is positive: ``on time`` when that block is at most ``tolerance`` blocks before the target,
``early`` before that, ``late`` when none fires by the target; in a run with no target any firing is a
``false alarm``.  The offset maximises ``on time - early - false alarm`` (ties: the offset nearest 0), separately
for starting (listening runs) and stopping (speaking runs).  Only the first firing counts, because in a closed loop
the first one changes the mode.  The test split is never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from datagen.common.config import ConfigError
from datagen.common.files import atomic_write_text

GRID = tuple(np.round(np.arange(-10.0, 4.0001, 0.25), 2))  # logit offsets tried
TOLERANCE_BLOCKS = 3  # 240 ms early still counts as on time


@dataclass
class Run:
    """One stretch of blocks in one mode: ``margin`` per block, ``target`` the index of its <shift> (or None)."""

    speaking: bool
    margin: np.ndarray
    target: int | None


def runs_of(margin: np.ndarray, tokens: np.ndarray, mode_prev: np.ndarray, shift_id: int) -> list[Run]:
    """Split one dialogue's blocks into runs of the mode the model is in before each step."""
    out, start = [], 0
    for k in range(len(tokens) + 1):
        if k == len(tokens) or tokens[k] == shift_id:
            end = min(k, len(tokens) - 1)
            if end >= start:
                out.append(Run(bool(mode_prev[start]), margin[start : end + 1],
                               end - start if k < len(tokens) else None))
            start = k + 1
    return out


def outcomes(runs: Sequence[Run], bias: float, tolerance: int = TOLERANCE_BLOCKS) -> dict[str, int]:
    """What a greedy stream with ``bias`` does first in each run (see the module docstring)."""
    n = {"on_time": 0, "early": 0, "late": 0, "false_alarm": 0, "quiet": 0}
    for r in runs:
        fired = np.flatnonzero(r.margin + bias > 0)
        first = int(fired[0]) if len(fired) else None
        if r.target is None:
            n["false_alarm" if first is not None else "quiet"] += 1
        elif first is None:
            n["late"] += 1
        else:
            n["on_time" if first >= r.target - tolerance else "early"] += 1
    return n


def choose(runs: Sequence[Run], grid: Sequence[float] = GRID, tolerance: int = TOLERANCE_BLOCKS
           ) -> tuple[float, list[dict[str, Any]]]:
    """The offset with the best ``on_time - early - false_alarm`` and the whole sweep."""
    table = []
    for b in grid:
        n = outcomes(runs, float(b), tolerance)
        table.append({"bias": float(b), **n, "score": n["on_time"] - n["early"] - n["false_alarm"]})
    best = max(table, key=lambda row: (row["score"], -abs(row["bias"])))
    return best["bias"], table


def collect_runs(model, corpus: str | Path) -> list[Run]:
    """Teacher-forced ``<shift>`` margins of every dialogue of ``corpus`` (duplex targets), split into runs."""
    import torch

    from datagen.corpus import Corpus
    from model.targets import make_batch

    source = Corpus(Path(corpus))
    if source.stats().get("split") == "test":
        raise ConfigError(f"calibrate: --data {corpus} is a test-split corpus; calibrate on a validation corpus "
                          "(another seed of --split train) so the test split stays unseen")
    runs: list[Run] = []
    with torch.no_grad():
        for dialogue, audio in source.iter_audio(channels=("mic", "assistant")):
            batch = make_batch([(dialogue, audio)], model.tokenizer)
            logits = model(batch, return_logits=True)["logits"][0].float()
            tokens = batch["tokens"][0]
            mode = batch["mode"][0].astype(np.int64)
            mode_prev = np.concatenate([[0], mode[:-1]])
            masked = logits.masked_fill(~model.allowed(torch.as_tensor(mode_prev)), float("-inf"))
            shift = masked[:, model.shift_id].clone()
            masked[:, model.shift_id] = float("-inf")
            margin = (shift - masked.max(-1).values).numpy()
            runs.extend(runs_of(margin, tokens, mode_prev, model.shift_id))
    return runs


def calibrate(checkpoint: str | Path, data: str | Path, out: str | Path,
              tolerance: int = TOLERANCE_BLOCKS, progress: bool = True) -> dict[str, Any]:
    """Write ``out``: the checkpoint with ``decision.start_bias`` / ``stop_bias`` chosen on ``data``, plus
    ``calibration.json`` (the sweep) and ``calibration.png``."""
    from model.checkpoint import load_checkpoint, save_checkpoint

    if Path(out).resolve() == Path(checkpoint).resolve():
        raise ConfigError("calibrate: --out must differ from --checkpoint (the trained checkpoint is kept as it is)")
    model = load_checkpoint(checkpoint)
    runs = collect_runs(model, data)
    report: dict[str, Any] = {"checkpoint": str(checkpoint), "data": str(data), "tolerance_blocks": tolerance}
    for name, speaking in (("start_bias", False), ("stop_bias", True)):
        mine = [r for r in runs if r.speaking == speaking]
        if not any(r.target is not None for r in mine):
            raise ConfigError(f"calibrate: --data {data} has no {'speaking' if speaking else 'listening'} run that "
                              "ends in a <shift>; use a validation corpus with whole exchanges")
        bias, table = choose(mine, tolerance=tolerance)
        setattr(model.cfg.decision, name, bias)
        report[name] = {"chosen": bias, "runs": len(mine), "at_chosen": next(r for r in table if r["bias"] == bias),
                        "at_zero": next(r for r in table if r["bias"] == 0.0), "sweep": table}
        if progress:
            at, zero = report[name]["at_chosen"], report[name]["at_zero"]
            print(f"{name}: {bias:+.2f} over {len(mine)} runs (on time {at['on_time']}, early {at['early']}, "
                  f"late {at['late']}, false alarms {at['false_alarm']}; at 0: {zero['on_time']}, {zero['early']}, "
                  f"{zero['late']}, {zero['false_alarm']})")
    save_checkpoint(model, out)
    atomic_write_text(Path(out) / "calibration.json", json.dumps(report, indent=1))
    _plot(report, Path(out) / "calibration.png")
    return report


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from datagen.common.figures import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharex=True)
    for ax, name in zip(axes, ("start_bias", "stop_bias")):
        sweep = report[name]["sweep"]
        x = [r["bias"] for r in sweep]
        for key in ("on_time", "early", "late", "false_alarm"):
            ax.plot(x, [r[key] for r in sweep], label=key.replace("_", " "))
        ax.axvline(report[name]["chosen"], color="k", ls="--", lw=1)
        ax.set_title(f"{name} (chosen {report[name]['chosen']:+.2f})")
        ax.set_xlabel("logit offset on <shift>")
    axes[0].set_ylabel("runs (validation corpus)")
    axes[0].legend(fontsize=8)
    save_figure(fig, path)


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="set a trained model's <shift> decision offsets on a validation "
                              "corpus (writes a new checkpoint)")
    p.add_argument("--checkpoint", required=True, help="a trained SALMONN-omni checkpoint (left unchanged)")
    p.add_argument("--data", required=True, help="a validation corpus (never the test split)")
    p.add_argument("--out", required=True, help="the calibrated checkpoint")
    p.add_argument("--tolerance-blocks", type=int, default=TOLERANCE_BLOCKS,
                   help=f"how many 80 ms blocks early a <shift> still counts as on time ({TOLERANCE_BLOCKS})")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=lambda a: 0 if calibrate(a.checkpoint, a.data, a.out, a.tolerance_blocks,
                                                 not a.quiet) else 1)
