"""The end of a run: the final benchmark on ``--eval-data`` (closed loop, like any model), ``loss.png`` and
``summary.json`` in the run directory.

Why score here: a falling token loss said nothing about turn-taking in the measured plain loop (it never took
the turn), so every run ends with the numbers that matter, from the same code ``duplexkit bench run`` uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from datagen.common.files import atomic_write_text

from .config import TrainConfig
from .loop import plot_losses


def bench_final(final: Path, eval_data: str, out: Path, cfg: TrainConfig, progress: bool) -> dict[str, Any]:
    """``duplexkit bench run --model salmonn-omni --checkpoint final --data eval_data --max-items N``."""
    from benchmark.runner import RunConfig, run_bench

    results = run_bench(RunConfig(model="salmonn-omni", data=str(eval_data), out=str(out),
                                  model_options={"checkpoint": str(final)}, tasks=list(cfg.eval.bench_tasks),
                                  max_items=cfg.eval.max_items, save_audio=1, seed=cfg.seed, progress=progress))
    return results.get("aggregates", {})


def finish_run(run_dir: Path, final: Path, result: dict[str, Any], history: Sequence[dict[str, Any]],
               eval_data: str | None, cfg: TrainConfig, progress: bool) -> dict[str, Any]:
    plot_losses(history, run_dir / "loss.png")
    train = [r for r in history if "loss" in r]
    evals = [r for r in history if "eval" in r]
    summary = {**result, "final_checkpoint": str(final),
               "first_loss": train[0]["loss"] if train else None, "last_loss": train[-1]["loss"] if train else None,
               "last_eval": evals[-1]["eval"] if evals else None}
    if eval_data and cfg.eval.bench:
        summary["bench_dir"] = str(run_dir / "bench")
        summary["bench"] = bench_final(final, eval_data, run_dir / "bench", cfg, progress)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1, default=str))
    return summary
