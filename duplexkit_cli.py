"""The one console script, ``duplexkit``: each package contributes its subcommands (thin layers over library code)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence


# Each package's argparse layer: ``add_commands(subparsers)``; order is the order of ``duplexkit --help``.
COMMAND_MODULES = ("datagen.cli", "model.cli", "recipes.cli", "benchmark.cli")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="duplexkit", description="Full-duplex spoken dialogue toolkit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a package without commands yet; any other missing import is a bug
            if exc.name != name:
                raise
            continue
        module.add_commands(sub)
    validate = sub.choices.get("validate")
    if validate is not None:  # datagen never imports the benchmark: its ASR check is added here
        validate.add_argument("--asr", default="whisper",
                              help="ASR for the per-voice WER check of rendered turns ('none' to skip)")
        validate.set_defaults(func=cmd_validate)
    p = sub.add_parser("demo", help="the quick start: a small corpus, what is in it, and baselines scored on it")
    p.add_argument("--out", default=DEMO_DIR)
    p.add_argument("--minutes", type=float, default=4.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-bench", action="store_true", help="only generate, inspect and validate the corpus")
    p.set_defaults(func=cmd_demo)
    return parser


DEMO_DIR = "demo-corpus"
# Models the demo scores, with their options: the oracle bounds every metric, the cascade is a real half-duplex
# system (SmolLM2), salmonn-omni an untrained tiny checkpoint (what `duplexkit model init` writes; train it next).
DEMO_MODELS: tuple[tuple[str, dict], ...] = (("oracle", {}), ("vad_cascade", {}), ("salmonn-omni", {}))


def cmd_validate(args: argparse.Namespace) -> int:
    """datagen's checks (labels, stems, VAD), then the benchmark ASR's per-voice WER of the rendered turns."""
    from datagen.validate import validate_corpus

    report = validate_corpus(args.dir, vad=not args.no_vad, max_dialogues=args.max_dialogues)
    print(report.format())
    ok = report.ok
    if args.asr != "none" and not ok:
        print("  ASR check skipped: the corpus has the problems above")
    elif args.asr != "none":
        from benchmark.asr.intelligibility import check_intelligibility

        intel = check_intelligibility(args.dir, asr_name=args.asr, max_dialogues=args.max_dialogues)
        print(intel.format())
        ok = ok and intel.ok
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """End to end on the embedded defaults: generate, inspect, plot, validate, then score baselines closed loop."""
    from pathlib import Path

    from datagen.cli import demo_corpus

    ok = demo_corpus(args.out, args.minutes, args.workers)
    from benchmark.asr.intelligibility import check_intelligibility

    if ok:
        intel = check_intelligibility(args.out, max_dialogues=2)
        print(intel.format())
        ok = intel.ok
    if args.no_bench:
        return 0 if ok else 1
    from benchmark.models import STEP_TIMEOUT_S
    from benchmark.report import compare_table
    from benchmark.runner import RunConfig, run_bench

    runs = Path(args.out) / "bench"
    results = []
    for name, options in DEMO_MODELS:
        options = dict(options)
        if name == "salmonn-omni":
            try:
                from model.cli import init_checkpoint
            except ImportError as exc:
                print(f"demo: skipping salmonn-omni ({exc})")
                continue
            ckpt = runs / "salmonn-omni-tiny-untrained"
            if not (ckpt / "config.yaml").exists():
                init_checkpoint("tiny", str(ckpt))
            options["checkpoint"] = str(ckpt)
        print(f"\nscoring {name} (closed loop, 1 item per kind; the full set: duplexkit bench run ...)")
        extra = {"step_timeout_s": STEP_TIMEOUT_S[name]} if name in STEP_TIMEOUT_S else {}
        results.append(run_bench(RunConfig(model=name, data=args.out, out=str(runs / name), model_options=options,
                                           max_items=1, workers=args.workers, save_audio=2, **extra)))
    print("\n" + compare_table(results))
    print("\nreports: " + ", ".join(str(runs / r["model"]["name"] / "report.html") for r in results))
    return 0 if ok else 1


INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    try:  # a Ctrl-C while the (heavy) subcommand modules import is an interrupt too, not a traceback
        from datagen.common.errors import DuplexkitError, one_line

        parser = build_parser()
    except KeyboardInterrupt:
        print("duplexkit: interrupted", file=sys.stderr)
        return INTERRUPTED
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("duplexkit: interrupted; finished shards are kept, run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    except (DuplexkitError, ValueError, OSError, RuntimeError, KeyError) as exc:
        if args.debug or os.environ.get("DUPLEXKIT_DEBUG"):
            raise
        print(f"duplexkit: error: {one_line(exc)}", file=sys.stderr)
        return 2


def program(argv: Sequence[str] | None = None) -> int:
    """``duplexkit`` as a program (the console script): :func:`main`, then Ctrl-C ignored while the interpreter
    exits.  The work is done and written by then, but Python's teardown puts SIGINT back to its default action, so a
    Ctrl-C landing there killed the finished process by signal (exit -2) instead of letting it exit 0.  An ignored
    SIGINT is left as it is by that teardown.  Not in :func:`main`: in-process callers keep their own handler."""
    import signal

    try:
        return main(argv)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(program())
