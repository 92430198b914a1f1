"""Preference pairs for stage 3 DPO (ARCHITECTURE.md, "Preference pairs"): from corpus labels at every decision
point, and from a model's own wrong outcomes in benchmark runs.  Reference: ``docs/pairs.md``.

``record``  the pair, its parquet row, the pair-set reader (:class:`PairSet`), :class:`PairTokens` (injected)
``labels``  static pairs from a dialogue's labels
``runs``    on-policy pairs from a bench run directory (read as files)
``build``   the resumable pair-set writer (``duplexkit pairs``), the text view and stats
``view``    ``duplexkit inspect PAIRS`` and ``duplexkit plot PAIRS ID``
"""

from .build import build_pair_set, check_kinds
from .record import KINDS, OUTCOMES, Pair, PairSet, PairsError, PairTokens, read_pair_shard

__all__ = ["KINDS", "OUTCOMES", "Pair", "PairSet", "PairTokens", "PairsError", "build_pair_set", "check_kinds",
           "read_pair_shard"]
