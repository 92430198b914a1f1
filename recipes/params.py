"""Which parameters a stage trains: SalmonnOmni's parameters in named groups, and freezing by group.

Why groups rather than name patterns in configs: a stage says ``trainable: [connector, lm, state_tokens]`` and
the mapping to modules lives here once.  ``lm`` is what the backbone leaves trainable when built (the LoRA
adapters of a pretrained LLM, or the whole random tiny one), never a frozen pretrained base.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


def param_groups(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """Group -> (name, parameter); a parameter the backbone froze at build (pretrained base) is in no group."""
    groups: dict[str, list[tuple[str, nn.Parameter]]] = {g: [] for g in
                                                           ("encoder", "connector", "lm", "state_tokens", "synth")}
    prefixes = {"encoder.": "encoder", "connector.": "connector", "stream_embed": "connector", "task_embed": "connector",
                "state_head.": "state_tokens", "synth.": "synth", "lm.": "lm", "cosyvoice.": "synth"}
    for name, p in model.named_parameters():
        group = next((g for pre, g in prefixes.items() if name.startswith(pre)), None)
        if group == "lm" and not p.requires_grad:
            continue  # frozen by the backbone itself (LoRA base, backbone.freeze)
        if group is not None:
            groups[group].append((name, p))
    return groups


def set_trainable(model: nn.Module, trainable: Iterable[str]) -> list[tuple[str, nn.Parameter]]:
    """Freeze everything, then unfreeze ``trainable`` groups; returns the trainable (name, parameter) list."""
    groups = param_groups(model)
    keep = set(trainable)
    model.requires_grad_(False)
    out = []
    for g, items in groups.items():
        if g in keep:
            for name, p in items:
                p.requires_grad_(True)
                out.append((name, p))
    if not out:
        raise ValueError(f"trainable: {sorted(keep)} selects no parameters of this model")
    return out


def frozen_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every frozen parameter (tests check they stay bit-identical)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
