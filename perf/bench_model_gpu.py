"""SALMONN-omni ``full`` on a GPU: per-block latency of a Llama-3-8B-shaped bf16 backbone (random weights).

Run on a CUDA machine: ``python perf/bench_model_gpu.py [--blocks 200] [--history-blocks 375]``; without
CUDA it prints one line and exits 0.  No weights are needed: the backbone is built from the ``full`` config's
Llama-3-8B shape (``backbone.kind=llama_shape``, 32 layers, 4096 hidden, 8 KV heads, 128k vocabulary).

What is timed (after ``--history-blocks`` of context, 30 s by default, so attention has a realistic KV cache):

1. ``step (eager)``: the whole streaming step as the adapter runs it (encoder, LLM, decision, synthesizer,
   Griffin-Lim on the CPU), with a DynamicCache;
2. ``LLM (eager)``: only the backbone's 3-position KV-cached forward, DynamicCache;
3. ``LLM (static+graph)``: the same forward with a StaticCache and ``torch.compile(mode="reduce-overhead")``
   (CUDA graphs), which removes the per-kernel launch overhead that dominates a 3-token forward.

The physical floor is reading the bf16 weights once per block: ~16 GB / 3.35 TB/s ~ 5 ms on an H100 SXM; a naive
eager forward is ~60 ms (launch-bound).  Prints ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _timed(fn, n: int, sync) -> np.ndarray:
    out = []
    for _ in range(n):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return np.array(out) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=200, help="timed blocks per measurement")
    ap.add_argument("--history-blocks", type=int, default=375, help="context before timing (375 = 30 s)")
    ap.add_argument("--no-compile", action="store_true", help="skip the StaticCache + CUDA-graph measurement")
    ap.add_argument("--config", default="full")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of the script itself (use --config tiny)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("bench_model_gpu: torch is not installed; skipped")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_model_gpu: no CUDA device; skipped (run this on a GPU machine)")
        return 0

    from datagen.schema import BLOCK_SAMPLES
    from model.config import load_config
    from model.salmonn import SalmonnOmni

    torch.backends.cuda.matmul.allow_tf32 = True
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    cfg = load_config(args.config, ["backbone.kind=llama_shape", "backbone.dtype=bfloat16"])
    t0 = time.perf_counter()
    model = SalmonnOmni(cfg, device=dev).eval()
    model.requires_grad_(False)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    counts = model.param_counts()
    print(f"device: {torch.cuda.get_device_name(0) if cuda else dev}; built {args.config} (random weights) in "
          f"{time.perf_counter() - t0:.1f} s; backbone {counts['backbone'] / 1e9:.2f} B params, "
          f"total {counts['total'] / 1e9:.2f} B")
    gib = 2 ** 30
    bytes_per_block = sum(p.numel() * p.element_size() for p in model.lm.parameters())
    bw = 3.35e12  # H100 SXM HBM3; an H200 has 4.8e12
    print(f"floor (weights read once per block at {bw / 1e12:.2f} TB/s): {bytes_per_block / bw * 1000:.1f} ms")

    # 1. whole streaming step, eager
    rng = np.random.default_rng(0)
    mic = (rng.standard_normal((args.history_blocks + args.blocks + 1) * BLOCK_SAMPLES) * 0.05).astype(np.float32)
    st = model.new_state()
    own = np.zeros(BLOCK_SAMPLES, np.float32)
    text = model.tokenizer.encode(" the answer is four")

    def token(k: int) -> int:
        c = k % 30
        return model.think_id if c < 10 else model.shift_id if c in (10, 29) else text[k % len(text)]

    k = 0
    for k in range(args.history_blocks):
        own = model.step(st, mic[k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES], own, force=token(k)).audio
    times = []
    for k in range(args.history_blocks, args.history_blocks + args.blocks):
        sync()
        t = time.perf_counter()
        own = model.step(st, mic[k * BLOCK_SAMPLES:(k + 1) * BLOCK_SAMPLES], own, force=token(k)).audio
        sync()
        times.append(time.perf_counter() - t)
    step_ms = np.array(times) * 1000
    rows = [("step (eager)", step_ms)]

    # 2. LLM only, eager, DynamicCache (continuing the session's cache)
    x = torch.randn(1, 3, model.d_llm, device=dev, dtype=model.llm_dtype)
    with torch.inference_mode():
        kv = st.kv
        rows.append(("LLM (eager)", _timed(lambda: model.decoder(inputs_embeds=x, past_key_values=kv, use_cache=True),
                                           args.blocks, sync)))

    # 3. LLM only, StaticCache + torch.compile (CUDA graphs)
    if not args.no_compile:
        from transformers import StaticCache

        hist = 3 * args.history_blocks
        max_len = hist + 3 * (args.blocks + 20)
        cache = StaticCache(config=model.lm.config, max_cache_len=max_len)
        decoder = model.decoder

        def fwd(inp, pos):
            return decoder(inputs_embeds=inp, past_key_values=cache, cache_position=pos, use_cache=True).last_hidden_state

        compiled = torch.compile(fwd, mode="reduce-overhead" if cuda else "default", fullgraph=False)
        with torch.inference_mode():
            for p in range(0, hist, 3 * 25):  # prefill the history in chunks (eager)
                n = min(3 * 25, hist - p)
                decoder(inputs_embeds=torch.randn(1, n, model.d_llm, device=dev, dtype=model.llm_dtype),
                        past_key_values=cache, cache_position=torch.arange(p, p + n, device=dev), use_cache=True)
            pos = [hist]

            def one():
                compiled(x, torch.arange(pos[0], pos[0] + 3, device=dev))
                pos[0] += 3

            t = time.perf_counter()
            for _ in range(10):  # compile + graph capture warm-up
                one()
            sync()
            print(f"compile + warm-up: {time.perf_counter() - t:.1f} s")
            rows.append(("LLM (static+graph)", _timed(one, args.blocks, sync)))

    print(f"{'what':<20} {'mean ms':>8} {'p50':>7} {'p95':>7} {'RTF':>6}")
    for name, ms in rows:
        print(f"{name:<20} {ms.mean():>8.2f} {np.percentile(ms, 50):>7.2f} {np.percentile(ms, 95):>7.2f} "
              f"{ms.mean() / 80:>6.3f}")
    peak = torch.cuda.max_memory_allocated() / gib if cuda else float("nan")
    print(f"peak GPU memory: {peak:.1f} GiB; RTF = mean / 80 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
