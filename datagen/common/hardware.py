"""Whether this machine does bf16 arithmetic natively.

bf16 autocast trained SmolLM2 1.7x faster than fp32 on a CPU with AMX-BF16 and 3.3x slower on an AVX-512 CPU
without it, where bf16 is emulated (``perf/bench_train.py --precision no bf16``, docs/training.md s30-s31), so
``auto`` precisions ask here instead of assuming one machine.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# x86 (/proc/cpuinfo "flags") and aarch64 ("Features") names of native bf16 arithmetic
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16", "bf16"})


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def native_bf16(cuda: bool | None = None) -> bool:
    """True where bf16 runs in hardware: a CUDA device that supports it, or a CPU with a bf16 flag.  ``cuda``:
    which device is meant (None: CUDA when one is available)."""
    import torch

    if cuda is None:
        cuda = torch.cuda.is_available()
    if cuda:
        return bool(torch.cuda.is_bf16_supported())
    return bool(cpu_flags() & BF16_CPU_FLAGS)


def cpu_bf16_note() -> str:
    """One line for a log: what this CPU does with bf16."""
    found = sorted(cpu_flags() & BF16_CPU_FLAGS)
    return f"native bf16 on this CPU ({', '.join(found)})" if found else \
        "no native bf16 on this CPU (no amx_bf16 / avx512_bf16 flag): bf16 is emulated, ~3x slower than fp32"
