"""Figures: one way to lay out, write and close a matplotlib figure (headless backend)."""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, out: str | Path, dpi: int = 100) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
