"""Training checkpoints: ``checkpoints/step-NNNNNN/`` is a model checkpoint (:func:`model.checkpoint.save_checkpoint`:
loadable by ``load_checkpoint`` and scorable by ``duplexkit bench run --checkpoint``) plus ``trainer.pt``
(optimizer, scheduler, step, sampler) and ``rng-rank<r>.pt`` (each process's RNG states).

Why one folder written under a temporary name and then renamed: a killed or failed save (a full disk) leaves the
previous checkpoints whole, and resuming picks the newest complete folder.  The last ``keep_last`` are kept.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datagen.common.files import WriteError, atomic_directory, sweep_stale

STEP_RE = re.compile(r"^step-(\d{6,})$")


def step_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:06d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        m = STEP_RE.match(p.name)
        if m and (p / "trainer.pt").is_file() and (p / "model.safetensors").is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_train_checkpoint(run_dir: Path, step: int, model, trainer_state: dict[str, Any], accelerator,
                          keep_last: int) -> Path:
    """Every process writes its RNG file into a shared temporary folder; the main process writes the rest and
    renames.  (On one machine the folder is shared; on several nodes, a shared run directory is required.)"""
    from model.checkpoint import save_checkpoint

    final = step_dir(run_dir, step)
    shared_tmp = final.with_name(f".{final.name}.rng.tmp")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(shared_tmp, ignore_errors=True)
        shared_tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        torch.save(rng_state(), shared_tmp / f"rng-rank{accelerator.process_index}.pt")
    except OSError as exc:
        raise WriteError(f"{shared_tmp}: cannot write ({exc.strerror or exc})") from None
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        try:
            with atomic_directory(final, replace=True) as tmp:
                save_checkpoint(omni_of(accelerator.unwrap_model(model)), tmp)
                try:
                    torch.save(trainer_state, tmp / "trainer.pt")
                    for f in shared_tmp.iterdir():
                        shutil.copy2(f, tmp / f.name)
                except OSError as exc:
                    raise WriteError(f"{final}: cannot write ({exc.strerror or exc})") from None
        finally:
            shutil.rmtree(shared_tmp, ignore_errors=True)
        for _, old in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        sweep_stale(final.parent)
    accelerator.wait_for_everyone()
    return final


def omni_of(model):
    """The SalmonnOmni inside a training wrapper (stage 0 trains ``omni`` plus a projection ``extra``)."""
    return getattr(model, "omni", model)


def extra_state(model) -> dict[str, torch.Tensor]:
    """A wrapper's tensors outside the SalmonnOmni (kept in trainer.pt, not in the model checkpoint)."""
    if not hasattr(model, "omni"):
        return {}
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith("omni.")}


def load_model_tensors(model, ckpt: Path) -> None:
    """The stored tensors into an existing model (frozen pretrained base and tied duplicates are not stored)."""
    from safetensors.torch import load_file

    state = load_file(str(ckpt / "model.safetensors"))
    missing, unexpected = omni_of(model).load_state_dict(state, strict=False)
    if unexpected:
        raise RuntimeError(f"checkpoint {ckpt}: {len(unexpected)} tensors this model lacks (first {unexpected[0]}); "
                           "a checkpoint of another config")


def load_trainer_state(ckpt: Path, rank: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    trainer = torch.load(ckpt / "trainer.pt", map_location="cpu", weights_only=False)
    rng_file = ckpt / f"rng-rank{rank}.pt"
    rng = torch.load(rng_file, map_location="cpu", weights_only=False) if rng_file.is_file() else None
    return trainer, rng
