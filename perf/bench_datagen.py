"""Generator speed on the default config: audio seconds per CPU second, and total cost over the TTS cost alone.

Run with ``make bench``.  One worker, so CPU seconds are one core's; the RIR bank is built (or loaded from its
cache) before timing starts, as it is once per machine.  Prints ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from datagen.config import GeneratorConfig
from datagen.generate import generate, resources_for


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    config = GeneratorConfig()
    t0 = time.perf_counter()
    resources_for(config)  # TTS init, RIR bank (cached on disk), content bank
    setup_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        stats = generate(out, args.minutes, seed=args.seed, workers=1, config=config, progress=False)
    t = stats["_timing"]
    cpu = t["worker_cpu_s"]
    print(f"setup (TTS init, RIR bank load/build, content): {setup_s:.2f} s wall")
    print(f"generated audio: {t['audio_s']:.1f} s in {cpu:.2f} CPU s ({t['wall_s']:.2f} s wall, 1 worker)")
    print(f"speed: {t['audio_s'] / cpu:.0f}x real time per core (goal >= 300x)")
    print(f"TTS CPU: {t['tts_cpu_s']:.2f} s; total / TTS cost: {cpu / max(t['tts_cpu_s'], 1e-9):.2f}x (goal <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
