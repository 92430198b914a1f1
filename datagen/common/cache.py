"""The cache folder: RIR banks, the SmolLM2 safetensors copy, ASR language models (all rebuildable)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$DUPLEXKIT_CACHE`` (or ``~/.cache/duplexkit``), joined with ``parts``; not created here."""
    root = Path(os.environ.get("DUPLEXKIT_CACHE") or Path.home() / ".cache" / "duplexkit")
    return root.joinpath(*parts)
