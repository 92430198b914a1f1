"""``duplexkit pairs``: the wiring of :mod:`datagen.pairs` to a model's tokenizer and target streams.

Why here: a pair set holds token ids, and the tokenizer, the ``<think>``/``<shift>`` ids and the target stream of a
dialogue (:func:`model.targets.build_targets`, the one home of the token timing) belong to ``model``, which
``datagen`` may not import (ARCHITECTURE.md's dependency rule).  ``recipes`` may import both, so the token side is
built here and handed to the generic pair builder (:class:`datagen.pairs.PairTokens`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


class ModelPairTokens:
    """:class:`datagen.pairs.PairTokens` for one model config (tokenizer, target streams, readable pieces)."""

    def __init__(self, model_config: str | Path = "tiny", overrides: Sequence[str] = (), checkpoint: str | None = None):
        from model.backbone import load_tokenizer
        from model.config import load_config
        from model.tokens import SHIFT, THINK, tokenizer_identity

        if checkpoint:
            from model.checkpoint import read_config

            cfg = read_config(checkpoint)
        else:
            cfg = load_config(model_config, list(overrides))
        self.cfg = cfg
        self.tokenizer = load_tokenizer(cfg)
        self.think = self.tokenizer.convert_tokens_to_ids(THINK)
        self.shift = self.tokenizer.convert_tokens_to_ids(SHIFT)
        self.identity = identity_of(cfg, self.tokenizer)
        self._names = {self.think: THINK, self.shift: SHIFT}

    def targets(self, dialogue: Any) -> np.ndarray:
        from model.targets import build_targets

        # the played stream: a late stop (train corpora only) would make label pairs prefer its overrun, so pair
        # sources are made without them (recipes.reproduce)
        return build_targets(dialogue, self.tokenizer, delay=self.cfg.synth_delay_blocks).fed

    def mode(self, tokens: Sequence[int]) -> np.ndarray:
        from model.targets import mode_from_tokens

        return mode_from_tokens(list(tokens), self.shift)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    def piece(self, token: int) -> str:
        if token in self._names:
            return self._names[token]
        hf = getattr(self.tokenizer, "tok", None)
        if hf is not None:
            return str(hf.convert_ids_to_tokens(int(token)))
        if 32 < token < 127:
            return chr(token)
        return "▁" if token == 32 else f"<0x{token:02X}>"


def identity_of(cfg: Any, tokenizer: Any) -> dict[str, Any]:
    """What a pair set's token ids depend on: the tokenizer, the model config's name, its timing and thinking."""
    from model.tokens import tokenizer_identity

    return {"tokenizer": tokenizer_identity(tokenizer), "model": cfg.name,
            "synth_delay_blocks": int(cfg.synth_delay_blocks), "thinking": cfg.thinking}


def make_pairs(data: str, out: str, runs: Sequence[str] = (), kinds: Sequence[str] | None = None,
               model_config: str = "tiny", checkpoint: str | None = None, context_s: float = 4.0,
               span_blocks: int = 8, labels: bool = True, progress: bool = True,
               weights: Sequence[str] = (), keep: bool = False) -> dict[str, Any]:
    from datagen.common.config import parse_overrides
    from datagen.pairs import KINDS, PairsError, build_pair_set

    parsed = parse_overrides(list(weights), what="--weight")
    for kind, w in parsed.items():
        if kind not in KINDS or isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise PairsError(f"--weight {kind}={w!r}: expected KIND=WEIGHT with a kind of {', '.join(KINDS)} and a "
                             "weight >= 0")
    tokens = ModelPairTokens(model_config, checkpoint=checkpoint)
    return build_pair_set(data, out, tokens, runs=runs, kinds=kinds, context_s=context_s, span_blocks=span_blocks,
                          weights={k: float(v) for k, v in parsed.items()}, labels=labels, keep=keep,
                          progress=progress)


def add_commands(sub) -> None:
    from datagen.pairs import KINDS

    p = sub.add_parser("pairs", help="preference pairs from corpus labels and from benchmark runs (stage 3 DPO)")
    p.add_argument("--data", required=True, help="the corpus (labels; the runs must have been made on it)")
    p.add_argument("--out", required=True, help="the pair set directory (an unfinished one there is resumed)")
    p.add_argument("--from-run", action="append", default=[], metavar="BENCH_RUN_DIR",
                   help="a `duplexkit bench run` output: each wrong outcome becomes a pair (repeatable)")
    p.add_argument("--kinds", nargs="+", default=None, metavar="KIND", help=f"only these kinds ({', '.join(KINDS)})")
    p.add_argument("--model-config", default="tiny", help="tokenizer and timing: tiny | small | full | a model YAML")
    p.add_argument("--checkpoint", default=None, help="take the model config from this checkpoint instead")
    p.add_argument("--context-s", type=float, default=4.0, help="prefix length before the divergence block")
    p.add_argument("--span-blocks", type=int, default=8, help="the longest scored span (80 ms blocks)")
    p.add_argument("--no-labels", action="store_true", help="on-policy pairs only (from --from-run)")
    p.add_argument("--keep", action="store_true",
                   help="runs' right outcomes give 'keep' pairs too (chosen: the model's own tokens)")
    p.add_argument("--weight", action="append", default=[], metavar="KIND=W",
                   help="the DPO loss weight of a kind's pairs (default 1; repeatable)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    stats = make_pairs(args.data, args.out, args.from_run, args.kinds, args.model_config, args.checkpoint,
                       args.context_s, args.span_blocks, labels=not args.no_labels, progress=not args.no_progress,
                       weights=args.weight, keep=args.keep)
    kinds = ", ".join(f"{k} {v}" for k, v in stats["kinds"].items())
    print(f"wrote {stats['num_pairs']} pairs to {args.out} ({kinds})")
    return 0
