"""``duplexkit bench run | compare | fdb | models``: argparse over the benchmark library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from datagen.common.config import parse_overrides
from datagen.common.jobs import ENGINES


def add_commands(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="score duplex models: closed-loop benchmark, comparisons, Full-Duplex-Bench")
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")

    p = bsub.add_parser("run", help="run a model through a corpus's items, closed loop; writes results and a report")
    p.add_argument("--model", required=True, help="adapter name (see `duplexkit bench models`)")
    p.add_argument("--data", required=True, help="a duplexkit corpus directory")
    p.add_argument("--out", required=True, help="output directory (a stopped run there is resumed)")
    p.add_argument("--tasks", nargs="+", default=None, help="subset of: turn_taking pause_handling backchannel "
                   "barge_in echo qa (default: all)")
    p.add_argument("--checkpoint", default=None, help="model checkpoint directory (salmonn-omni)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", help="adapter option")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--engine", choices=ENGINES, default="local")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--max-items", type=int, default=None, help="at most this many items per family (quick looks)")
    p.add_argument("--echo-factors", action="append", default=[], metavar="TASK=[F,...]",
                   help="override a task's echo sweep, e.g. barge_in=[0,0.5,1]")
    p.add_argument("--metric", action="append", default=[], metavar="KEY=VALUE",
                   help="metric setting, e.g. stop_window_s=1.5 (see benchmark/metrics.py)")
    p.add_argument("--step-timeout", type=float, default=30.0,
                   help="seconds a model may take for one step (at most 3600)")
    p.add_argument("--start-timeout", type=float, default=600.0,
                   help="seconds an isolated model may take to build, e.g. loading its checkpoint (at most 3600)")
    p.add_argument("--asr", default="whisper",
                   help="ASR for S2S answers: whisper | pocketsphinx | whisper-hf ('none' to skip)")
    p.add_argument("--open-loop", action="store_true", help="replay fixed inputs (FDB style): the model does not "
                   "hear itself and probes play at the corpus's times")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                   help="run the model in a child process that is killed when a step exceeds --step-timeout (even "
                   "in C code) and restarted for the next item (default: on for all but the built-in baselines)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_run)

    p = bsub.add_parser("compare", help="print models' results.json side by side")
    p.add_argument("results", nargs="+", help="results.json files or run directories")
    p.set_defaults(func=cmd_compare)

    p = bsub.add_parser("rescore", help="recompute finished runs' aggregates and reports from their per-item "
                        "records (no model runs), after a change to the aggregates alone")
    p.add_argument("results", nargs="+", help="results.json files or run directories")
    p.set_defaults(func=cmd_rescore)

    p = bsub.add_parser("items", help="write each item's open-loop input.wav, for models run outside duplexkit "
                        "(then: bench run --model files --model-arg root=DIR --open-loop)")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tasks", nargs="+", default=None)
    p.add_argument("--max-items", type=int, default=None)
    p.set_defaults(func=cmd_items)

    p = bsub.add_parser("train-classifier", help="train the turn_classifier baseline on a train-split corpus's frame "
                        "labels (model and thresholds selected on --val-data); then: bench run --model turn_classifier "
                        "--model-arg path=OUT")
    p.add_argument("--data", required=True, help="a --split train corpus")
    p.add_argument("--val-data", required=True, help="a --split val corpus (unseen lines, voices, rooms) for selection")
    p.add_argument("--out", required=True, help="the model folder to write (replaced atomically)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="train on about this many minutes of --data, every k-th shard (default: "
                        "benchmark.train_classifier.MAX_TRAIN_MINUTES; 0: all of it)")
    p.add_argument("--workers", type=int, default=1, help="feature processes (the result is the same)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train_classifier)

    p = bsub.add_parser("models", help="list the registered model adapters")
    p.set_defaults(func=cmd_models)

    from benchmark.fdb.cli import add_fdb_command

    add_fdb_command(bsub)


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.report import headline_rows
    from benchmark.runner import RunConfig, run_bench, unmeasured

    options = parse_overrides(args.model_arg, "--model-arg")
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    echo = {k: list(v) if isinstance(v, list) else [v] for k, v in parse_overrides(args.echo_factors, "--echo-factors").items()}
    cfg = RunConfig(
        model=args.model, data=args.data, out=args.out, tasks=args.tasks or [], model_options=options,
        workers=args.workers, engine=args.engine, ray_address=args.ray_address, max_items=args.max_items,
        echo_factors=echo, metrics=parse_overrides(args.metric, "--metric"), step_timeout_s=args.step_timeout,
        start_timeout_s=args.start_timeout,
        asr=None if args.asr.lower() == "none" else args.asr, seed=args.seed, open_loop=args.open_loop,
        progress=not args.no_progress, isolate=args.isolate,
    )
    results = run_bench(cfg)
    width = max(len(a) for a, _, _ in headline_rows(results))
    for label, value, ci in headline_rows(results):
        print(f"{label:<{width}}  {value:>8}  {ci}")
    print(f"{results['failures']['count']} failed item(s); results: {Path(args.out) / 'results.json'}; "
          f"report: {Path(args.out) / 'report.html'}")
    problems = unmeasured(results)
    for line in problems:
        print(f"duplexkit: error: {line}", file=sys.stderr)
    return 1 if problems else 0


def _load_results(path: str) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p}: not a readable results.json ({exc})") from None
    if "aggregates" not in data or "model" not in data:
        raise ValueError(f"{p}: not a duplexkit results.json (no aggregates/model)")
    return data


def cmd_compare(args: argparse.Namespace) -> int:
    from benchmark.report import compare_table

    print(compare_table([_load_results(r) for r in args.results]))
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from benchmark.runner import rescore

    for path in args.results:
        rescore(path)
        print(f"rescored {path}")
    return 0


def cmd_items(args: argparse.Namespace) -> int:
    from benchmark.runner import write_item_inputs

    written = write_item_inputs(args.data, args.out, args.tasks, args.max_items)
    print(f"wrote {len(written)} item inputs under {args.out} (<item id>/input.wav + item.json); put the model's "
          f"output.wav beside each, then: duplexkit bench run --model files --model-arg root={args.out} --open-loop ...")
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from benchmark.train_classifier import MAX_TRAIN_MINUTES, train_classifier

    cap = MAX_TRAIN_MINUTES if args.max_minutes is None else (args.max_minutes or None)
    s = train_classifier(args.data, args.val_data, args.out, progress=not args.quiet, max_minutes=cap,
                         workers=args.workers)
    v = s["validation"]
    print(f"turn_classifier: start head {s['selected']['start']['kind']} (threshold {s['thresholds']['start']:g}), "
          f"stop head {s['selected']['stop']['kind']} (threshold {s['thresholds']['stop']:g}); validation accuracy "
          f"{ {**v['start']['val_accuracy_per_class'], **v['stop']['val_accuracy_per_class']} }; "
          f"{s['timing']['total_s']:.0f} s; written to {args.out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from benchmark.models import available

    print("\n".join(available()))
    return 0
