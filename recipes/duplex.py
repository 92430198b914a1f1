"""What stages 1 and 2 share: building the model a run trains, the data of a run, and the duplex loss task
(per-class weighted cross-entropy + the synthesizer's L1, each divided by its global count).

Why weights per token class: ``<think>`` fills most blocks (listening, and between words while speaking), so an
unweighted loss is minimised by always thinking (measured: a plain loop never predicted ``<shift>``).  The
weights come from ``loss.{think,shift,text}``; padding always weighs 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from datagen.common.config import ConfigError
from datagen.schema import seconds_to_frame

from .config import TrainConfig, model_config_dict
from .data import (CorpusSource, WindowSampler, audio_seconds, build_windows, make_train_batch, parse_data_arg)


def build_model(cfg: TrainConfig):
    """The model the run trains: ``init_from`` (a previous stage's checkpoint, of the same model config) or a
    fresh one from ``model`` + ``model_config``.

    Settings that shape no tensor come from this run's config, not the checkpoint's: ``seed``, ``thinking`` (so both
    arms of the implicit/explicit ablation start from the same distilled encoder) and the ``decision`` offsets
    (inference settings).  ``tasks`` may grow by appending (a stage-0 encoder, trained
    without the transcribe task, starts stage 1; a new task vector starts at zero as in a fresh model)."""
    from model.checkpoint import read_config
    from model.config import config_from_dict
    from model.salmonn import SalmonnOmni

    mcfg = model_config_dict(cfg)
    model = SalmonnOmni(config_from_dict(mcfg))
    if cfg.init_from:
        from .checkpoints import load_model_tensors
        from .loop import _diff_keys

        stored = read_config(cfg.init_from).to_dict()
        diff = [k for k in _diff_keys(stored, mcfg) if k not in ("seed", "thinking") and not k.startswith("decision.")
                and not (k == "tasks" and mcfg["tasks"][: len(stored["tasks"])] == stored["tasks"])]
        if diff:
            raise ConfigError(f"init_from {cfg.init_from!r}: a checkpoint of another model config "
                              f"(differs in {', '.join(diff[:3])})")
        load_model_tensors(model, Path(cfg.init_from))
    return model, mcfg


def open_sources(data: Sequence[str], cache: int, option: str = "--data",
                 channels: Sequence[str] = ("mic", "assistant")) -> tuple[list[CorpusSource], list[float]]:
    if not data:
        raise ConfigError(f"{option}: at least one corpus is needed")
    parsed = [parse_data_arg(d) for d in data]
    return [CorpusSource(p, cache, option, channels) for p, _ in parsed], [w for _, w in parsed]


class DuplexData:
    """Sources, windows and the batch builder of one run (training or eval)."""

    def __init__(self, cfg: TrainConfig, data: Sequence[str], model, shuffle: bool = True,
                 option: str = "--data") -> None:
        self.cfg = cfg
        lead = seconds_to_frame(cfg.data.lead_seconds) if shuffle else 0  # eval batches stay as they are
        self.sources, self.weights = open_sources(data, cfg.data.shard_cache, option,
                                                  ("mic", "assistant") + (("noise",) if lead else ()))
        self.tasks = [t for t, w in cfg.data.tasks.items() if w > 0] or ["duplex"]
        missing = [t for t in self.tasks if t not in model.cfg.tasks]
        if missing:
            raise ConfigError(f"data.tasks: {', '.join(missing)} is not a task of the model (add it to "
                              "model_config.tasks, e.g. model_config.tasks=[duplex,transcribe])")
        self.windows = build_windows(self.sources, cfg.data.max_seconds, cfg.data.scenarios, self.tasks)
        self.sampler = WindowSampler(self.windows, self.weights, cfg.seed, cfg.data.event_oversample if shuffle
                                     else 1.0, shuffle=shuffle, task_weights=cfg.data.tasks,
                                     jitter=shuffle and cfg.data.window_jitter, lead_blocks=lead)
        self.tokenizer, self.think_id, self.shift_id = model.tokenizer, model.think_id, model.shift_id

    def build(self, windows: list[Any]) -> dict[str, np.ndarray]:
        return make_train_batch(self.sources, windows, self.tokenizer, self.think_id, self.shift_id, self.cfg.loss)

    def fixed_batches(self, n: int) -> list[dict[str, np.ndarray]]:
        """The first ``n`` batches in corpus order per task (eval)."""
        b = self.cfg.data.batch_size
        out = []
        for task in self.tasks:
            ws = [w for w in self.windows if w.task == task][: n * b]
            out.extend(self.build(ws[i : i + b]) for i in range(0, len(ws), b))
        return out


class DuplexTask:
    """Token loss (weighted CE / global weight sum) and synthesizer loss (L1 sum / global mel-element count)."""

    names = ("token_loss", "synth_loss")

    def __init__(self, cfg: TrainConfig, model) -> None:
        self.w_token, self.w_synth = cfg.loss.token, cfg.loss.synth
        mc = model.cfg
        self.mel_per_block = mc.mel_frames_per_block * mc.synth.n_mels if model.synth is not None else 0
        self.think_id, self.shift_id = model.think_id, model.shift_id

    def counts(self, batch: dict[str, Any]) -> np.ndarray:
        audible = (np.asarray(batch["audible"])[:, 1:] > 0) & np.asarray(batch["valid"])[:, 1:]
        return np.array([float(np.asarray(batch["weight"]).sum()), float(audible.sum()) * self.mel_per_block])

    def loss(self, model, batch: dict[str, Any], counts: torch.Tensor, world: int):
        out = model(batch)
        ce = out["token_ce_sum"]
        l1 = out.get("synth_l1_sum", torch.zeros((), device=ce.device))
        loss = self.w_token * ce / counts[0].clamp_min(1.0)
        if self.w_synth > 0:
            loss = loss + self.w_synth * l1 / counts[1].clamp_min(1.0)
        return loss * world, torch.stack([ce.detach().float(), l1.detach().float()])

    def total(self, values: dict[str, float]) -> float:
        return self.w_token * values["token_loss"] + self.w_synth * values["synth_loss"]

    def audio_seconds(self, batch: dict[str, Any]) -> float:
        return audio_seconds(batch)

    @torch.no_grad()
    def evaluate(self, model, batches: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Weighted token loss and synth loss as in training, plus per-class accuracy of the greedy decision under
        the listening/speaking mask (``acc_shift`` is the recall of ``<shift>``; ``acc_shift_start`` and
        ``acc_shift_stop`` split it into listen->speak and speak->listen, because stops are rare and a model can
        take every turn while never stopping) and how many ``<shift>`` the model predicts per target ``<shift>``,
        on duplex rows; on ``transcribe`` rows ``transcribe_acc_text`` /
        ``transcribe_acc_think``: the greedy token among text and ``<think>`` (teacher-forced history)."""
        from model.targets import mode_before, stop_shifts

        ce = wsum = l1 = n_l1 = 0.0
        hit = {"think": [0, 0], "shift": [0, 0], "text": [0, 0], "shift_start": [0, 0], "shift_stop": [0, 0]}
        tr_hit = {"think": [0, 0], "text": [0, 0]}
        pred_shift = 0
        for b in batches:
            out = model(b, return_logits=True)
            ce += float(out["token_ce_sum"])
            wsum += float(out["token_weight_sum"])
            l1 += float(out.get("synth_l1_sum", 0.0))
            n_l1 += float(self.counts(b)[1])
            tokens = torch.as_tensor(b["tokens"])
            valid = torch.as_tensor(b["valid"]).bool()
            mode = torch.as_tensor(b["mode"]).long()
            fed = torch.as_tensor(b["inputs"]) if "inputs" in b else tokens
            mode_prev = mode_before(mode, fed, self.shift_id).long()
            logits = model.decision_logits(out["logits"].float(), mode_prev.to(out["logits"].device)).cpu()
            pred = logits.argmax(-1)
            cls = torch.where(tokens == self.think_id, 0, torch.where(tokens == self.shift_id, 1, 2))
            task = torch.as_tensor(b["task"]) if "task" in b else torch.zeros(len(tokens), dtype=torch.long)
            dup = valid & (task == 0)[:, None]
            stop = stop_shifts(tokens, mode, self.shift_id, fed)
            for name, sel in (("think", cls == 0), ("shift", cls == 1), ("text", cls == 2),
                              ("shift_start", (cls == 1) & ~stop), ("shift_stop", stop)):
                sel = dup & sel
                hit[name][0] += int((pred[sel] == tokens[sel]).sum())
                hit[name][1] += int(sel.sum())
            pred_shift += int(((pred == self.shift_id) & dup).sum())
            tr = valid & (task > 0)[:, None]
            if tr.any():
                tr_pred = out["logits"].float().cpu()
                tr_pred[..., self.shift_id] = float("-inf")
                tr_pred = tr_pred.argmax(-1)
                for name, sel in (("think", tr & (cls == 0)), ("text", tr & (cls == 2))):
                    tr_hit[name][0] += int((tr_pred[sel] == tokens[sel]).sum())
                    tr_hit[name][1] += int(sel.sum())
        metrics = {"token_loss": ce / max(wsum, 1.0), "synth_loss": l1 / max(n_l1, 1.0)}
        for name, (h, n) in hit.items():
            if n:
                metrics[f"acc_{name}"] = h / n
        metrics["shift_pred_per_target"] = pred_shift / max(hit["shift"][1], 1)
        for name, (h, n) in tr_hit.items():
            if n:
                metrics[f"transcribe_acc_{name}"] = h / n
        return metrics


class DuplexRecipe:
    """Stages 1 and 2 in torchtune's order: ``setup`` (model, frozen groups, data, trainer, resume), ``train``,
    ``save`` (``final/``, a plain model checkpoint), ``cleanup`` (the end-of-run benchmark, the summary)."""

    def __init__(self, cfg: TrainConfig, data: Sequence[str], eval_data: str | None, out: str | Path,
                 progress: bool = True) -> None:
        self.cfg, self.data, self.eval_data, self.out, self.progress = cfg, list(data), eval_data, Path(out), progress

    def setup(self) -> "DuplexRecipe":
        from .loop import Trainer
        from .params import set_trainable

        cfg = self.cfg
        self.model, mcfg = build_model(cfg)
        params = set_trainable(self.model, cfg.trainable)
        train = DuplexData(cfg, self.data, self.model)
        if train.tasks == ["duplex"] and any(n == "task_embed" for n, _ in params):
            # no window of another task: its vector gets no gradient, so keep it as it came (AdamW's weight decay
            # would shrink it, and DDP wants no trainable parameter without a gradient)
            self.model.task_embed.requires_grad_(False)
            params = [(n, p) for n, p in params if n != "task_embed"]
        evals = (DuplexData(cfg, [self.eval_data], self.model, shuffle=False, option="--eval-data")
                 if self.eval_data else None)
        task, model, params = self.task(params, train, evals)
        definition = {"stage": cfg.stage, "config": cfg.to_dict(), "model_config": mcfg,
                      "data": [str(Path(p).resolve()) + f":{w:g}" for p, w in
                               (parse_data_arg(d) for d in self.data)],
                      "eval_data": str(Path(self.eval_data).resolve()) if self.eval_data else None}
        self.trainer = Trainer(cfg, self.out, model, params, task, train.sampler, train.build, definition,
                               eval_batches=evals.fixed_batches(cfg.eval.max_batches) if evals else [],
                               progress=self.progress).setup()
        return self

    def task(self, params, train: DuplexData, evals: DuplexData | None):
        """The loss task, the module the loop trains and its parameters (stage 0 wraps the model)."""
        return DuplexTask(self.cfg, self.model), self.model, params

    def train(self) -> dict[str, Any]:
        self.result = self.trainer.train()
        return self.result

    def save(self) -> Path | None:
        from model.checkpoint import save_checkpoint

        from .checkpoints import omni_of

        self.final = self.out / "final"
        if self.trainer.acc.is_main_process:
            save_checkpoint(omni_of(self.trainer.acc.unwrap_model(self.trainer.model_p)), self.final)
        return self.final

    def cleanup(self) -> dict[str, Any]:
        from .finish import finish_run

        self.trainer.cleanup()
        if not self.trainer.acc.is_main_process:
            return self.result
        return finish_run(self.out, self.final, self.result, self.trainer.history, self.eval_data, self.cfg,
                          self.progress)


def run_duplex_stage(cfg: TrainConfig, data: Sequence[str], eval_data: str | None, out: str | Path,
                     progress: bool = True) -> dict[str, Any]:
    recipe = DuplexRecipe(cfg, data, eval_data, out, progress).setup()
    recipe.train()
    recipe.save()
    return recipe.cleanup()
