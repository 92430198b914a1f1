"""SALMONN-omni streaming speed on this CPU: per-block latency and real-time factor for ``tiny`` and ``small``.

Run with ``.venv/bin/python perf/bench_model.py [--configs tiny small] [--blocks 150] [--threads 1 2]``.
Each run streams ``--blocks`` 80 ms blocks of a synthetic mic through an untrained model, with the token stream
forced to a listen/speak pattern (listen 1/3, speak 2/3: text tokens, <think>, <shift>), so both the
listening path and the synthesizer (acoustic decoder + Griffin-Lim) are timed; untrained decisions would
otherwise pick an arbitrary mix.  ``--quantize int8`` times the adapter's ``quantize="int8"`` option (merged LoRA,
dynamic int8 LLM Linear layers); ``--dtype float32 bfloat16`` the LLM's ``backbone.dtype`` (bf16 pays only on a
CPU with bf16 arithmetic: ``auto`` picks by the CPU's flags).  RTF = mean block latency / 80 ms (below 1: faster
than real time).  The first 10 blocks are warm-up and not counted.  Prints ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np


def forced_pattern(model, n: int) -> list[int]:
    """listen 10, <shift>, then text/<think> alternating for 19, <shift>: a 30-block cycle."""
    text = model.tokenizer.encode(" the answer is four and that is all")
    out, i = [], 0
    for k in range(n):
        c = k % 30
        if c < 10:
            out.append(model.think_id)
        elif c in (10, 29):
            out.append(model.shift_id)
        elif c % 2:
            out.append(text[i % len(text)])
            i += 1
        else:
            out.append(model.think_id)
    return out


def bench(config: str, blocks: int, threads: int, quantize: str | None = None,
          dtype: str = "float32") -> dict[str, float]:
    import torch

    from datagen.schema import BLOCK_SAMPLES
    from model.config import load_config
    from model.salmonn import SalmonnOmni

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = SalmonnOmni(load_config(config, [f"backbone.dtype={dtype}"])).eval()
    model.prepare_inference(quantize)  # as the adapter does: LoRA merged, int8 only when asked
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    mic = (rng.standard_normal(blocks * BLOCK_SAMPLES) * 0.05).astype(np.float32)
    tokens = forced_pattern(model, blocks)
    st = model.new_state()
    own = np.zeros(BLOCK_SAMPLES, np.float32)
    lat, speaking = [], []
    for k in range(blocks):
        t = time.perf_counter()
        r = model.step(st, mic[k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES], own, force=tokens[k])
        lat.append(time.perf_counter() - t)
        speaking.append(bool(np.abs(r.audio).max() > 0))
        own = r.audio
    lat_ms = np.array(lat[10:]) * 1000
    spk = np.array(speaking[10:])
    return {
        "load_s": load_s,
        "mean_ms": float(lat_ms.mean()),
        "p50_ms": float(np.percentile(lat_ms, 50)),
        "p95_ms": float(np.percentile(lat_ms, 95)),
        "listen_ms": float(lat_ms[~spk].mean()) if (~spk).any() else float("nan"),
        "speak_ms": float(lat_ms[spk].mean()) if spk.any() else float("nan"),
        "rtf": float(lat_ms.mean() / 80.0),
        "params": model.param_counts()["total"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["tiny", "small"])
    ap.add_argument("--blocks", type=int, default=150)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--quantize", nargs="+", default=["none", "int8"], help="none and/or int8 (LLM weights)")
    ap.add_argument("--dtype", nargs="+", default=["float32"], help="backbone.dtype values (float32, bfloat16, auto)")
    args = ap.parse_args()
    print(f"{'config':<7} {'quant':<5} {'dtype':<8} {'thr':>3} {'params':>12} {'load s':>7} {'mean ms':>8} "
          f"{'p50':>7} {'p95':>7} {'listen':>7} {'speak':>7} {'RTF':>6}")
    for config in args.configs:
        for quant, dtype, threads in itertools.product(args.quantize, args.dtype, args.threads):
            if quant == "int8" and dtype != "float32":
                continue  # int8 quantizes a float32 LLM only
            r = bench(config, args.blocks, threads, None if quant == "none" else quant, dtype)
            print(f"{config:<7} {quant:<5} {dtype:<8} {threads:>3} {r['params']:>12,} {r['load_s']:>7.1f} "
                  f"{r['mean_ms']:>8.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['listen_ms']:>7.1f} {r['speak_ms']:>7.1f} "
                  f"{r['rtf']:>6.3f}", flush=True)
    print("RTF = mean per-block latency / 80 ms; goal: small < 1 (faster than real time) on 2 cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
