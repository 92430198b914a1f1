"""The shared training loop of every stage: HF ``accelerate`` (one code path for CPU, one GPU and many), AdamW with
warmup + cosine, gradient accumulation with the loss normalised by the global count (every micro-batch of every
process), budgets, periodic eval and atomic checkpoints, exact resume, and what a user sees (a progress bar,
``train_log.jsonl``, TensorBoard when installed, ``loss.png``).

A stage supplies a :class:`Task`: how to count a batch's loss denominators before the forward, the loss of one
micro-batch given the global counts, and an eval.  Why counts first: with accumulation and several processes,
``sum(loss_sum) / global_count`` is the loss of the whole global batch, so 1 process x 4 windows and 2 processes x
2 windows take the same step (DDP averages gradients, hence the factor ``world``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch

from datagen.common.config import ConfigError
from datagen.common.files import atomic_write_text
from datagen.common.pinning import pin_run

from .checkpoints import (extra_state, list_checkpoints, load_model_tensors, load_trainer_state,
                          save_train_checkpoint, set_rng_state)
from .config import TrainConfig
from .data import WindowSampler, split_for_rank


class Task(Protocol):
    """What a stage trains on; ``counts``/``loss`` numerators are summed over micro-batches and processes."""

    names: tuple[str, ...]  # the loss terms, e.g. ("token_loss", "synth_loss")

    def counts(self, batch: dict[str, Any]) -> np.ndarray: ...

    def loss(self, model, batch: dict[str, Any], counts: torch.Tensor,
             world: int) -> tuple[torch.Tensor, torch.Tensor]: ...

    def total(self, values: dict[str, float]) -> float: ...

    def audio_seconds(self, batch: dict[str, Any]) -> float: ...

    def evaluate(self, model, batches: Sequence[dict[str, Any]]) -> dict[str, float]: ...


def resolve_precision(mixed_precision: str, cuda: bool) -> str:
    """``auto`` -> ``bf16`` where the device does bf16 natively, else ``no``; an explicit ``bf16`` on a CPU that
    emulates it stays (the user asked) with a one-line warning on stderr."""
    from datagen.common.hardware import cpu_bf16_note, native_bf16

    if mixed_precision == "auto":
        return "bf16" if native_bf16(cuda) else "no"
    if mixed_precision == "bf16" and not cuda and not native_bf16(cuda=False):
        print(f"[train] warning: mixed_precision=bf16: {cpu_bf16_note()}; mixed_precision=auto picks fp32 here",
              file=sys.stderr)
    return mixed_precision


def make_accelerator(cfg: TrainConfig):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    # accelerate keeps one state per process and refuses another mixed precision in it, while one process may run
    # several stages (reproduce runs them in-process: small's stage 0 in fp32, then bf16): a single process starts
    # afresh; a distributed launch's state is never reset
    cpu = not torch.cuda.is_available()
    precision = resolve_precision(cfg.mixed_precision, cuda=not cpu)
    last = AcceleratorState._shared_state.get("_mixed_precision")
    if last is not None and last != precision and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        AcceleratorState._reset_state()
    return Accelerator(cpu=cpu, mixed_precision=precision,
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)])


def seed_everything(seed: int, rank: int) -> None:
    """Seeds from (seed, rank): processes differ (dropout), runs repeat."""
    import random

    ss = np.random.SeedSequence([seed, rank])
    s = int(ss.generate_state(1)[0])
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    warm, total, floor = cfg.optim.warmup_steps, cfg.max_steps, cfg.optim.min_lr_ratio

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        t = min(1.0, (step - warm) / max(1, total - warm))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return f


class MicroBatches(torch.utils.data.Dataset):
    """Micro-batch ``i`` of this process, precomputed window lists: a map-style dataset, so a DataLoader with
    workers prefetches in order and the order never depends on the worker count."""

    def __init__(self, plan: list[list[Any]], build: Callable[[list[Any]], dict[str, Any]]) -> None:
        self.plan, self.build = plan, build

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.build(self.plan[i])


@dataclass
class Trainer:
    """One run: ``setup`` (model, optimizer, resume), ``train`` (the loop), ``save``, ``cleanup``."""

    cfg: TrainConfig
    run_dir: Path
    model: Any
    params: list[tuple[str, torch.nn.Parameter]]
    task: Task
    sampler: WindowSampler
    build_batch: Callable[[list[Any]], dict[str, Any]]
    definition: dict[str, Any]
    eval_batches: list[dict[str, Any]] = field(default_factory=list)
    progress: bool = True
    step: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    # ---------------------------------------------------------------------------------------------------------
    def setup(self) -> "Trainer":
        cfg = self.cfg
        self.acc = make_accelerator(cfg)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.acc.is_main_process:
            pinned = {k: v for k, v in self.definition.items()}
            pinned["config"] = {k: v for k, v in pinned["config"].items() if k != "max_minutes"}
            pin_run(self.run_dir / "run.json", pinned, hint="use a new --out, or the config it was started with",
                    what="a training run", error=ConfigError)
            atomic_write_text(self.run_dir / "config.yaml", _yaml(self.definition["config"]))
        self.acc.wait_for_everyone()
        seed_everything(cfg.seed, self.acc.process_index)
        trainable = [p for _, p in self.params]
        opt = torch.optim.AdamW(trainable, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                                weight_decay=cfg.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
        ckpts = list_checkpoints(self.run_dir)
        if ckpts:
            self._resume(ckpts[-1][1], opt)
        # the scheduler is stepped by hand (a prepared one steps once per process)
        self.model_p, self.opt = self.acc.prepare(self.model, opt)
        return self

    def _resume(self, ckpt: Path, opt: torch.optim.Optimizer) -> None:
        from model.checkpoint import read_config

        stored = read_config(ckpt).to_dict()
        if stored != self.definition["model_config"]:
            diff = sorted(_diff_keys(stored, self.definition["model_config"]))
            raise ConfigError(f"{ckpt}: a checkpoint of another model config (differs in {', '.join(diff[:3])})")
        load_model_tensors(self.model, ckpt)
        state, rng = load_trainer_state(ckpt, self.acc.process_index)
        if state.get("extra"):
            self.model.load_state_dict(state["extra"], strict=False)
        opt.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        self.step, self.train_seconds = int(state["step"]), float(state.get("train_seconds", 0.0))
        if rng is not None:
            set_rng_state(rng)
        self.history = [r for r in _read_log(self.run_dir / "train_log.jsonl") if r.get("step", 0) <= self.step]
        if self.acc.is_main_process:
            atomic_write_text(self.run_dir / "train_log.jsonl", "".join(json.dumps(r) + "\n" for r in self.history))
            print(f"resuming {self.run_dir} from {ckpt.name} (step {self.step})")

    # ---------------------------------------------------------------------------------------------------------
    def _loader(self) -> Iterator[dict[str, Any]]:
        """This process's micro-batches from ``self.step`` to ``max_steps``, in order."""
        cfg, acc = self.cfg, self.acc
        per_step = cfg.data.batch_size * cfg.optim.grad_accum * acc.num_processes
        plan_sampler = self.sampler.clone()
        plan: list[list[Any]] = []
        for _ in range(self.step, cfg.max_steps):
            mine = split_for_rank(plan_sampler.take(per_step), acc.process_index, acc.num_processes)
            b = cfg.data.batch_size
            plan.extend(mine[i * b : (i + 1) * b] for i in range(cfg.optim.grad_accum))
        ds = MicroBatches(plan, self.build_batch)
        if cfg.data.num_workers == 0:
            return (ds[i] for i in range(len(ds)))
        return iter(torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False, num_workers=cfg.data.num_workers,
                                                persistent_workers=False, prefetch_factor=4))

    def train(self) -> dict[str, Any]:
        from tqdm.auto import tqdm

        cfg, acc = self.cfg, self.acc
        world, main = acc.num_processes, acc.is_main_process
        writer = _tensorboard(self.run_dir) if main else None
        per_step = cfg.data.batch_size * cfg.optim.grad_accum * world
        batches = self._loader()
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc=f"train {cfg.stage}", dynamic_ncols=True,
                   disable=not (main and self.progress), unit="step")
        last_saved = self.step if list_checkpoints(self.run_dir) else -1
        rt_ema = None
        stop_reason = "max_steps"
        while self.step < cfg.max_steps:
            t0 = time.perf_counter()
            micro = [next(batches) for _ in range(cfg.optim.grad_accum)]
            counts = torch.as_tensor(sum(self.task.counts(b) for b in micro), dtype=torch.float64)
            gcounts = acc.reduce(counts.to(acc.device), reduction="sum").float()
            self.model_p.train()
            numer = torch.zeros(len(self.task.names), dtype=torch.float64)
            for i, b in enumerate(micro):
                sync = contextlib.nullcontext() if i == len(micro) - 1 else acc.no_sync(self.model_p)
                with sync, acc.autocast():
                    loss, terms = self.task.loss(self.model_p, b, gcounts, world)
                    acc.backward(loss)
                numer += terms.detach().double().cpu()
            if cfg.optim.grad_clip > 0:
                acc.clip_grad_norm_([p for _, p in self.params], cfg.optim.grad_clip)
            lr = self.scheduler.get_last_lr()[0]
            self.opt.step()
            self.scheduler.step()
            self.opt.zero_grad(set_to_none=True)
            self.sampler.take(per_step)
            self.step += 1
            dt = time.perf_counter() - t0
            self.train_seconds += dt
            audio = sum(self.task.audio_seconds(b) for b in micro)
            over = float(cfg.max_minutes > 0 and self.train_seconds >= cfg.max_minutes * 60)
            tail = torch.tensor(list(numer) + [audio, over], dtype=torch.float64)
            tail = acc.reduce(tail.to(acc.device), reduction="sum").cpu()
            values = {n: float(tail[k] / max(float(gcounts[k]), 1.0)) for k, n in enumerate(self.task.names)}
            values["loss"] = self.task.total(values)
            rt = float(tail[-2]) / dt
            rt_ema = rt if rt_ema is None else 0.9 * rt_ema + 0.1 * rt
            record = {"step": self.step, **{k: round(v, 6) for k, v in values.items()}, "lr": lr,
                      "audio_s": float(tail[-2]), "rt": round(rt, 1), "epoch": round(self.sampler.epoch
                      + self.sampler.position / max(1, len(self.sampler.order(self.sampler.epoch))), 4),
                      "elapsed_s": round(self.train_seconds, 2)}
            if main and (self.step % cfg.log_every == 0 or self.step == cfg.max_steps):
                self._log(record, writer)
            bar.set_postfix(loss=f"{values['loss']:.3f}", rt=f"{rt_ema:.0f}x", refresh=False)
            bar.update(1)
            if float(tail[-1]) > 0 and self.step < cfg.max_steps:
                stop_reason = "max_minutes"
            done = self.step >= cfg.max_steps or stop_reason == "max_minutes"
            if (cfg.eval_every and self.step % cfg.eval_every == 0) or done:
                self.evaluate(writer)
            if (cfg.save_every and self.step % cfg.save_every == 0) or done:
                self.save()
                last_saved = self.step
            if done:
                break
        bar.close()
        if last_saved != self.step:
            self.save()
        if writer is not None:
            writer.close()
        return {"step": self.step, "stopped_by": stop_reason, "train_seconds": round(self.train_seconds, 2)}

    def evaluate(self, writer=None) -> dict[str, float] | None:
        if not self.eval_batches or not self.acc.is_main_process:
            return None
        model = self.acc.unwrap_model(self.model_p)
        model.eval()
        with torch.no_grad(), self.acc.autocast():
            if getattr(self.task, "wants_step", False):  # a task that also benchmarks the model at this step
                metrics = self.task.evaluate(model, self.eval_batches, step=self.step, run_dir=self.run_dir)
            else:
                metrics = self.task.evaluate(model, self.eval_batches)
        record = {"step": self.step, "eval": {k: round(float(v), 6) for k, v in metrics.items()}}
        self._log(record, writer)
        return metrics

    def save(self) -> Path:
        state = {"optimizer": self.opt.state_dict(), "scheduler": self.scheduler.state_dict(), "step": self.step,
                 "sampler": self.sampler.state_dict(), "train_seconds": self.train_seconds,
                 "config": self.definition["config"], "extra": extra_state(self.acc.unwrap_model(self.model_p))}
        path = save_train_checkpoint(self.run_dir, self.step, self.model_p, state, self.acc, self.cfg.keep_last)
        if self.acc.is_main_process:
            plot_losses(self.history, self.run_dir / "loss.png")
        return path

    def _log(self, record: dict[str, Any], writer) -> None:
        self.history.append(record)
        with open(self.run_dir / "train_log.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if writer is not None:
            for k, v in (record.get("eval") or record).items():
                if isinstance(v, (int, float)) and k != "step":
                    writer.add_scalar(("eval/" if "eval" in record else "train/") + k, v, record["step"])

    def cleanup(self) -> None:
        self.acc.wait_for_everyone()
        self.acc.end_training()


# -------------------------------------------------------------------------------------------------------------
def plot_losses(history: Sequence[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from datagen.common.figures import save_figure

    train = [r for r in history if "loss" in r]
    evals = [r for r in history if "eval" in r and "token_loss" in r["eval"]]
    if not train:
        return
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for key in ("loss", "token_loss", "synth_loss"):
        if key in train[0]:
            ax.plot([r["step"] for r in train], [r[key] for r in train], label=f"train {key}")
    if evals:
        ax.plot([r["step"] for r in evals], [r["eval"]["token_loss"] for r in evals], "o-", label="eval token_loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, out)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed: train_log.jsonl and loss.png only
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line a kill cut short
    return out


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]
