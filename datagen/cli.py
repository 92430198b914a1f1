"""``duplexkit generate | inspect | plot | validate | export``: argparse over the datagen library (and the corpus
half of ``duplexkit demo``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from datagen.common.jobs import ENGINES
from datagen.splits import SPLITS


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a dual-channel duplex dialogue corpus")
    p.add_argument("--out", required=True, help="corpus directory (created; an unfinished run there is resumed)")
    from datagen.generate import MAX_MINUTES

    p.add_argument("--minutes", type=float, required=True,
                   help=f"total audio to generate, in minutes (at most {MAX_MINUTES} per run): a budget the corpus meets "
                        "to within about one dialogue (the real total is printed and in stats.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes (local) or Ray CPUs; output does not depend on it")
    p.add_argument("--engine", choices=ENGINES, default="local")
    p.add_argument("--ray-address", default=None, help="address of an existing Ray cluster (default: start locally)")
    p.add_argument("--config", default=None, help="YAML/JSON generator config (see datagen/configs/default.yaml)")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="draw lines, QA items, topics, voices and rooms from one side of the held-out partition "
                        "(datagen/splits.py: val is for choosing checkpoints and settings); default: everything")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="dotted config overrides applied after --config, e.g. acoustics.echo_factor=0")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("inspect", help="summarise a corpus (hours, scenario mix, timing histograms) or a pair set")
    p.add_argument("dir")
    p.add_argument("--plot", default=None, help="write the timing histograms against the reference to this PNG")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("plot", help="plot one dialogue (channels and label tracks) or one pair (both branches)")
    p.add_argument("dir")
    p.add_argument("id")
    p.add_argument("-o", "--out", required=True)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("validate", help="check labels against audio (silero VAD), stems sum to mix, events in range")
    p.add_argument("dir")
    p.add_argument("--no-vad", action="store_true")
    p.add_argument("--max-dialogues", type=int, default=None)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("export", help="export a corpus as stereo WAVs or Full-Duplex-Bench sample directories")
    p.add_argument("dir")
    p.add_argument("--format", choices=("wav", "fdb"), required=True)
    p.add_argument("-o", "--out", required=True)
    p.set_defaults(func=cmd_export)



def cmd_generate(args: argparse.Namespace) -> int:
    from datagen.config import load_generator_config
    from datagen.generate import generate

    config = load_generator_config(args.config, args.overrides)
    stats = generate(
        args.out,
        args.minutes,
        seed=args.seed,
        workers=args.workers,
        engine=args.engine,
        config=config,
        progress=not args.no_progress,
        ray_address=args.ray_address,
        split=args.split,
    )
    timing = stats.get("_timing", {})
    missed = stats["total_seconds"] - args.minutes * 60
    if abs(missed) > stats["longest_dialogue_s"]:  # the planned lengths were out of reach (see generate_shard)
        print(f"note: the corpus is {missed:+.0f} s off the {args.minutes:g} min asked for: its dialogues run "
              f"longer than dialogue_seconds allows (each scenario needs whole exchanges); widen dialogue_seconds")
    print(
        f"wrote {stats['num_dialogues']} dialogues, {stats['total_seconds'] / 60:.2f} min of audio "
        f"(asked for {args.minutes:g}) to {args.out} "
        f"({timing.get('shards_done_now', 0)} shards rendered now in {timing.get('wall_s', 0):.1f} s)"
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from datagen.inspect import format_summary, inspect_corpus, plot_timing_histograms
    from datagen.pairs.view import format_pairs_summary, inspect_pairs, is_pair_set

    if is_pair_set(args.dir):
        summary = inspect_pairs(args.dir)
        print(json.dumps(summary, indent=1) if args.json else format_pairs_summary(summary))
        return 0

    summary = inspect_corpus(args.dir)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    if args.plot:
        plot_timing_histograms(args.dir, args.plot)
        print(f"timing histograms: {args.plot}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from datagen.pairs.view import is_pair_set, plot_pair
    from datagen.plot import plot_dialogue

    (plot_pair if is_pair_set(args.dir) else plot_dialogue)(args.dir, args.id, args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from datagen.validate import validate_corpus

    report = validate_corpus(args.dir, vad=not args.no_vad, max_dialogues=args.max_dialogues)
    print(report.format())
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    from datagen.export import export_corpus

    paths = export_corpus(args.dir, args.out, fmt=args.format)
    print(f"exported {len(paths)} items to {args.out}")
    return 0


def demo_corpus(out_dir: str, minutes: float, workers: int) -> bool:
    """The corpus half of ``duplexkit demo``: generate a few minutes on the embedded defaults, then inspect, plot
    and validate them; True when validation passed."""
    from datagen.generate import generate
    from datagen.inspect import format_summary, inspect_corpus, plot_timing_histograms
    from datagen.plot import plot_dialogue
    from datagen.validate import validate_corpus

    from datagen.config import GeneratorConfig

    out = Path(out_dir)
    # Small shards so that both workers have work and the progress bar moves; otherwise the default config.
    stats = generate(out, minutes, seed=0, workers=workers, config=GeneratorConfig(dialogues_per_shard=2))
    timing = stats["_timing"]
    summary = inspect_corpus(out)
    print(format_summary(summary))
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    plot_timing_histograms(out, plots / "timing.png")
    first = json.loads((out / "manifest.jsonl").open().readline())["id"]
    plot_dialogue(out, first, plots / f"{first}.png")
    report = validate_corpus(out, vad=True, max_dialogues=4)
    print(report.format())
    if timing.get("shards_done_now"):
        rtf = timing["audio_s"] / max(timing["worker_cpu_s"], 1e-9)
        print(f"speed: {rtf:.0f}x real time per CPU core ({timing['audio_s']:.0f} s of audio, {workers} workers)")
    print(f"\ncorpus: {out.resolve()}")
    print(f"  manifest.jsonl, data/*.parquet ({stats['num_dialogues']} dialogues), stats.json")
    print(f"  plots: {plots / 'timing.png'}, {plots / (first + '.png')}")
    print(f"  next: duplexkit inspect {out} | duplexkit plot {out} ID -o x.png | duplexkit export {out} --format wav -o wavs")
    return report.ok
