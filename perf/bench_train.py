"""Training speed on this CPU: audio seconds trained per wall second for ``tiny`` and ``small`` (stage 2, the
real loop of :mod:`recipes.loop`: forward, backward, AdamW, the sampler, batch building from decoded shards).

Run with ``.venv/bin/python perf/bench_train.py [--configs tiny small] [--steps 12] [--threads 2]
[--precision no bf16] [--corpus DIR]`` (bf16: autocast; small on one thread: 1.7x faster than fp32 on an AMX-BF16
CPU, 3.3x slower on an AVX-512 one without bf16; ``auto`` picks by the CPU's flags).
Without ``--corpus`` a 3-minute corpus is generated once into ``.cache/bench-train-corpus``.  Windows of
``--seconds`` (16) x ``--batch`` (6) per step, as the measured plain loop.  The first 2 steps (shard decoding,
allocator warm-up) are not counted; the run directory is a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus(path: Path) -> Path:
    if (path / "manifest.jsonl").is_file():
        return path
    from datagen.config import GeneratorConfig
    from datagen.generate import generate

    cfg = GeneratorConfig.from_dict({"acoustics": {"bank_size": 2, "rt60_s": [0.15, 0.35],
                                                   "room_max_m": [5.0, 4.5, 3.0]},
                                     "dialogues_per_shard": 4, "dialogue_seconds": [16.0, 24.0]})
    generate(path, 3.0, seed=7, workers=2, config=cfg, progress=False)
    return path


def bench(config: str, data: Path, steps: int, seconds: float, batch: int, threads: int,
          precision: str = "no") -> dict[str, float]:
    from recipes.cli import train

    with tempfile.TemporaryDirectory() as tmp:
        train("duplex", config, [f"max_steps={steps}", f"data.max_seconds={seconds}", f"data.batch_size={batch}",
                                 "optim.grad_accum=1", "eval.bench=false", "eval_every=0", f"save_every={steps}",
                                 f"threads={threads}", f"mixed_precision={precision}"], [str(data)], None, tmp,
              progress=False)
        log = [json.loads(x) for x in (Path(tmp) / "train_log.jsonl").read_text().splitlines()]
    rows = [r for r in log if "loss" in r]
    counted = rows[2:]
    wall = counted[-1]["elapsed_s"] - rows[1]["elapsed_s"]
    audio = sum(r["audio_s"] for r in counted)
    return {"steps": len(counted), "audio_s": audio, "wall_s": wall, "x_realtime": audio / wall,
            "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["tiny", "small"])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=16.0)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--precision", nargs="+", default=["no"], help="mixed_precision values to compare (no, bf16)")
    args = ap.parse_args()
    data = corpus(Path(args.corpus) if args.corpus else ROOT / ".cache" / "bench-train-corpus")
    print(f"training throughput, stage 2, {args.batch} x {args.seconds:g} s windows per step, "
          f"{args.threads} threads (first 2 steps not counted)")
    # one process per precision would be cleaner for timing; make_accelerator resets the state between them
    for name, prec in ((n, p) for n in args.configs for p in args.precision):
        r = bench(name, data, args.steps, args.seconds, args.batch, args.threads, prec)
        print(f"  {name:<6} {prec:<4} {r['x_realtime']:8.1f}x real time  ({r['audio_s']:.0f} audio s in "
              f"{r['wall_s']:.1f} s, {r['steps']} steps; loss {r['first_loss']:.3f} -> {r['last_loss']:.3f})",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
