"""Checkpoints: ``config.yaml`` (the resolved model config) + ``model.safetensors`` + ``meta.json``.

Loadable without the training code: :func:`load_checkpoint` rebuilds :class:`model.salmonn.SalmonnOmni` from the
config and loads the tensors.  For a pretrained backbone whose base weights are frozen (LoRA, or ``freeze``), the
base is not copied into every checkpoint: it is rebuilt from its source (SmolLM2 cache, local path) and only the
trained tensors are stored.  Tied tensors are stored once.  A checkpoint whose tensors do not fit its config (or
an edited config) fails with one line saying so.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from datagen.common.config import read_yaml
from datagen.common.errors import DuplexkitError, one_line
from datagen.common.files import WriteError, atomic_directory, read_json_object

from .config import config_from_dict, ConfigError

FORMAT = "duplexkit-salmonn-omni"
FORMAT_VERSION = 1


class CheckpointError(DuplexkitError, RuntimeError):
    """A checkpoint that cannot be loaded (damaged file, tensors that do not fit its config); one line."""


def _stored_keys(model) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors to store and the keys left out (frozen pretrained base, tied duplicates)."""
    pretrained = model.cfg.backbone.kind in ("smollm2", "hf")
    frozen = {f"lm.{n}" for n, p in model.lm.named_parameters() if not p.requires_grad} if pretrained else set()
    state, seen, skipped = {}, {}, []
    for key, value in model.state_dict().items():
        if key in frozen:
            skipped.append(key)
            continue
        ptr = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape))
        if ptr in seen:
            skipped.append(key)
            continue
        seen[ptr] = key
        state[key] = value.detach().contiguous().cpu()
    return state, skipped


def save_checkpoint(model, out_dir: str | Path) -> Path:
    from safetensors.torch import save_file

    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not (out / "config.yaml").is_file():
        raise WriteError(f"{out}: exists and is not a checkpoint; refusing to replace it (choose another --out)")
    state, skipped = _stored_keys(model)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "stored": len(state), "not_stored": skipped,
            "params": model.param_counts()}
    from safetensors import SafetensorError

    with atomic_directory(out, replace=True) as tmp:  # a killed save leaves the previous checkpoint whole
        try:
            save_file(state, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        except SafetensorError as exc:  # e.g. a full disk, reported by the Rust writer
            raise WriteError(f"{out}: cannot write the checkpoint ({one_line(exc)})") from None
        (tmp / "config.yaml").write_text(yaml.safe_dump(model.cfg.to_dict(), sort_keys=False))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return out


def read_config(ckpt_dir: str | Path):
    d = Path(ckpt_dir)
    if not (d / "config.yaml").is_file() or not (d / "model.safetensors").is_file():
        raise CheckpointError(
            f"checkpoint {str(d)!r}: expected config.yaml and model.safetensors there "
            "(make one with `duplexkit model init --config tiny --out DIR`)"
        )
    try:
        return config_from_dict(read_yaml(d / "config.yaml", "checkpoint config"))
    except ConfigError as exc:
        raise ConfigError(f"checkpoint {str(d)!r}: config.yaml: {exc}") from None


def read_meta(ckpt_dir: str | Path) -> dict:
    """``meta.json`` (format, parameter counts), ``{}`` when absent; CheckpointError when unreadable."""
    path = Path(ckpt_dir) / "meta.json"
    return read_json_object(path, CheckpointError) if path.is_file() else {}


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The stored tensors; a truncated or corrupt file is one line naming it (never a library traceback)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable safetensors ({one_line(exc)}); the file is damaged or "
                              "incomplete: use another checkpoint") from None


def load_checkpoint(ckpt_dir: str | Path, device: str = "cpu", overrides=None):
    """Rebuild the model from ``config.yaml`` and load ``model.safetensors``; ``overrides`` (dotted key=value)
    may only change settings that do not change tensor shapes (e.g. ``backbone.path``)."""
    from .config import apply_overrides
    from .salmonn import SalmonnOmni

    d = Path(ckpt_dir)
    cfg = read_config(d)
    if overrides:
        cfg = config_from_dict(apply_overrides(cfg.to_dict(), list(overrides)))
    meta = read_meta(d)
    if meta and meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(d)!r}: format {meta.get('format')!r} is not {FORMAT}")
    model = SalmonnOmni(cfg)
    state = _read_tensors(d / "model.safetensors")
    expected = model.state_dict()
    allowed_missing = set(_stored_keys(model)[1])
    unexpected = [k for k in state if k not in expected]
    bad = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    missing = [k for k in expected if k not in state and k not in allowed_missing]
    if unexpected or bad or missing:
        what = (f"{len(bad)} tensors of the wrong shape (first {bad[0]})" if bad else
                f"{len(unexpected)} unknown tensors (first {unexpected[0]})" if unexpected else
                f"{len(missing)} missing tensors (first {missing[0]})")
        raise CheckpointError(
            f"checkpoint {str(d)!r} does not match its config.yaml: {what}; use the config it was trained with"
        )
    model.load_state_dict(state, strict=False)
    return model.to(device).eval()
