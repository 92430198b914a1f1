"""Generator speed, both voice presets (``voices: fast``, all espeak; the default, Piper for the assistant), with the
on-disk TTS cache cold (a fresh cache folder), steady@M (the cache holding what M minutes of another seed said: the
marginal cost M minutes into a long run, since bank answers, backchannels and interruptions repeat; the hit rate
printed says how much repeats) and warm (the same run again, an upper bound): audio seconds per CPU second, and the
total cost over the TTS cost alone (synthesis plus the cache's disk reads and writes: what speech cost).

Run with ``make bench``.  One worker, so CPU seconds are one core's.  Before timing, each preset builds its
resources (TTS load, RIR bank from its cache, content) and renders a small warm-up corpus with another seed, so
imports and first-call costs are not in the numbers: they are the marginal cost of more audio.  Prints what this
one run measured (and the machine's load average: the CPUs may be shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from datagen.config import GeneratorConfig


def run(preset: str, minutes: float, seed: int, cache: str, audio_format: str | None = None) -> dict:
    from datagen.generate import _RESOURCES, generate

    os.environ["DUPLEXKIT_TTS_CACHE"] = cache
    _RESOURCES.clear()  # new backends, so they see the cache folder
    config = GeneratorConfig.from_dict({"voices": preset, "audio_format": audio_format})
    with tempfile.TemporaryDirectory() as out:
        stats = generate(out, minutes, seed=seed, workers=1, config=config, progress=False)
    return stats["_timing"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steady-minutes", default="10,60",
                    help="comma-separated: for each, that many minutes of another seed rendered into a fresh cache "
                         "before a steady run ('' or 0: none)")
    ap.add_argument("--presets", default="fast,fast+flac,default",
                    help="voices preset[+audio_format] (none: the preset's own), comma-separated")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    for spec in args.presets.split(","):
        preset, _, given = spec.partition("+")
        fmt = GeneratorConfig.from_dict({"voices": preset, "audio_format": given or None}).storage_format
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            run(preset, 0.3, args.seed + 1000, cache, fmt)  # warm-up: imports, model loads, first calls
            setup = time.perf_counter() - t0
            prefills = [float(m) for m in args.steady_minutes.split(",") if m.strip() and float(m) > 0]
            for label in ["cold", *(f"steady@{m:g}" for m in prefills), "warm"]:
                if label.startswith("steady"):
                    with tempfile.TemporaryDirectory(prefix="bench-steady-") as steady_cache:
                        run(preset, float(label.partition("@")[2]), args.seed + 2000, steady_cache, fmt)
                        t = run(preset, args.minutes, args.seed, steady_cache, fmt)
                else:
                    t = run(preset, args.minutes, args.seed, cache, fmt)
                cpu, tts = t["worker_cpu_s"], t["tts_cpu_s"]
                c = t["tts_cache"]
                ratio = f"{cpu / tts:.2f}x" if c["misses"] else "n/a (nothing synthesised)"
                requests = c["hits"] + c["disk_hits"] + c["misses"]
                print(f"voices={preset:7s} {fmt}  {label:9s}: {t['audio_s']:.0f} s of audio in {cpu:.2f} CPU s -> "
                      f"{t['audio_s'] / cpu:.0f}x real time per core; TTS {tts:.2f} s (incl. cache IO), total/TTS "
                      f"{ratio}; cache {c['hits']} memory + {c['disk_hits']} disk hits, {c['misses']} synthesised "
                      f"(hit rate {(requests - c['misses']) / max(requests, 1):.2f})", flush=True)
            print(f"  (warm-up incl. loads: {setup:.1f} s wall)")
    print(f"goals: voices=fast >= 300x and total/TTS <= 2x; default total/TTS <= 2x; "
          f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
