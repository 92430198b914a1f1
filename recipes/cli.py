"""``duplexkit train STAGE --config FILE [key=value ...] --data CORPUS [--data CORPUS2:weight] [--eval-data CORPUS]
--out DIR``: a thin layer over the stage modules (tests call them directly).  The same command resumes a stopped
run from its last checkpoint."""

from __future__ import annotations

import argparse

from datagen.common.config import ConfigError
from datagen.common.registry import Registry

# Stage names (numbers and words) -> the stage module's run(cfg, data, eval_data, out, progress).
STAGES: Registry = Registry("training stage", {
    "0": "recipes.stage0_distill:run", "distill": "recipes.stage0_distill:run",
    "1": "recipes.stage1_sft:run", "sft": "recipes.stage1_sft:run",
    "2": "recipes.stage2_duplex:run", "duplex": "recipes.stage2_duplex:run",
    "3": "recipes.stage3_dpo:run", "dpo": "recipes.stage3_dpo:run", "stage3": "recipes.stage3_dpo:run",
}, missing=ConfigError)
STAGE_NAMES = {"0": "distill", "1": "sft", "2": "duplex", "3": "dpo", "stage3": "dpo"}


def stage_name(stage: str) -> str:
    STAGES.resolve(stage)  # unknown: one line listing the known ones
    return STAGE_NAMES.get(stage, stage)


def train(stage: str, config: str, overrides=(), data=(), eval_data: str | None = None, out: str = "",
          max_items: int | None = None, progress: bool = True) -> dict:
    """Resolve the config (file + overrides), then run the stage; returns its summary."""
    from .config import load_train_config

    name = stage_name(stage)
    overrides = list(overrides)
    if max_items is not None:
        overrides.append(f"eval.max_items={max_items}")
    cfg = load_train_config(name, config, overrides)
    if not out:
        raise ConfigError("--out: a run directory is needed")
    return STAGES.resolve(name)(cfg, list(data), eval_data, out, progress)


def _train(args: argparse.Namespace) -> int:
    summary = train(args.stage, args.config, args.overrides, args.data, args.eval_data, args.out, args.max_items,
                    progress=not args.quiet)
    if "final_checkpoint" not in summary:  # not the main process
        return 0
    print(f"trained {summary.get('step')} steps ({summary.get('stopped_by')}); loss "
          f"{summary.get('first_loss')} -> {summary.get('last_loss')}; final checkpoint {summary.get('final_checkpoint')}")
    if summary.get("bench_dir"):
        print(f"benchmark on --eval-data: {summary['bench_dir']}/report.md")
    return 0


class _TrainParser(argparse.ArgumentParser):
    """Keeps ``key=value`` words after the options as overrides (argparse binds the ``overrides`` positional
    right after STAGE, so later ones would be 'unrecognized')."""

    def parse_known_args(self, args=None, namespace=None):
        ns, extra = super().parse_known_args(args, namespace)
        keep = [e for e in extra if "=" in e and not e.startswith("-")]
        ns.overrides = list(getattr(ns, "overrides", None) or []) + keep
        return ns, [e for e in extra if e not in keep]


def add_commands(subparsers) -> None:
    from .pairs import add_commands as add_pairs
    from .reproduce import add_commands as add_reproduce

    add_pairs(subparsers)
    add_reproduce(subparsers)
    cls, subparsers._parser_class = subparsers._parser_class, _TrainParser
    try:
        p = subparsers.add_parser("train", help="train SALMONN-omni: stage 0 (distill), 1 (sft), 2 (duplex) or 3 (dpo)")
    finally:
        subparsers._parser_class = cls
    p.add_argument("stage", help="0 | distill, 1 | sft, 2 | duplex, 3 | dpo")
    p.add_argument("--config", required=True, help="tiny | small | full (recipes/configs/<size>/<stage>.yaml) or a YAML")
    p.add_argument("overrides", nargs="*", help="dotted key=value, e.g. max_steps=200 optim.lr=1e-3")
    p.add_argument("--data", action="append", default=[], required=True,
                   help="CORPUS or CORPUS:weight (repeatable); stage 3: a pair set (duplexkit pairs), plus a corpus "
                        "for the replayed SFT windows")
    p.add_argument("--eval-data", default=None, help="a corpus for eval losses and the end-of-run benchmark")
    p.add_argument("--out", required=True, help="the run directory (the same command resumes there)")
    p.add_argument("--max-items", type=int, default=None, help="items per task family in the final benchmark")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)
