"""Stage 3: DPO on preference pairs (``duplexkit pairs``), from the stage-2 policy, mixed with replayed SFT windows.

Loss (TRL's conventions, written here because TRL's trainer only takes token inputs; ARCHITECTURE.md):

* per pair, the policy's and the reference's **summed log-probabilities of the scored span** (the steps from the
  divergence block on; masked like the decoder: only ``<think>``/``<shift>`` while listening), ``pc, pr, rc, rr``;
  with ``dpo.score: decisions`` each block counts only its ``<shift>`` decision (log p(``<shift>``) or
  log(1 - p(``<shift>``))), so the text in a branch is not part of the preference (at tiny no better on val:
  docs/training.md, s26);
* ``sigmoid`` (Rafailov et al. 2023, eq. 7): ``-log sigmoid(beta * ((pc - pr) - (rc - rr)))``, with optional label
  smoothing eps (conservative DPO: ``(1-eps) * that + eps * -log sigmoid(-beta * ...)``), weighted by the pair's
  ``weight`` and averaged over the global batch;
* ``sft``: the mean negative log-likelihood per token of the chosen spans (TRL's ``loss_type=["sigmoid","sft"]``
  with ``loss_weights=[1, alpha]``; the RPO objective of Pang et al. 2024);
* plus ``dpo.replay_weight`` times the stage-2 token loss (class-weighted cross-entropy) of replayed SFT windows,
  ``dpo.replay_ratio`` of them per pair, drawn from the ``--data`` corpus by their own checkpointed sampler.

Metrics per step, with TRL's names: ``rewards/chosen = beta * (pc - rc)``, ``rewards/rejected = beta * (pr - rr)``,
``rewards/margins`` (their difference), ``rewards/accuracies`` (chosen > rejected), ``logps/chosen``, ``logps/rejected``
(the policy's span sums), means over pairs; ``eval`` records the same on a fixed set of pairs, and with
``dpo.bench_every`` and ``--eval-data`` a closed-loop benchmark of the policy (``bench/...``), so the early dip and the
recovery SALMONN-omni reports (barge-in F1 0.24 after 10 steps, back by 40) show in ``train_log.jsonl`` and
``dpo.png``.

The reference is the stage-2 policy (``init_from``, required), not the base with adapters off.  Its span log-probs
are computed once per pair set and reference checkpoint and cached under their hash
(``$DUPLEXKIT_CACHE/dpo-ref/<hash>.npz``); the policy starts equal to it, so the first step's ``dpo_loss`` is log 2.

Defaults and where they come from (``recipes/configs/<size>/dpo.yaml``; see docs/training.md):

* ``beta`` 0.1: the DPO paper's value for dialogue and TRL's ``DPOConfig`` default (the issue's range 0.05-0.1);
* ``optim.lr`` 5e-6 (small) and 1e-6 (full): TRL's ``DPOConfig`` default is 1e-6, Zephyr's DPO stage used 5e-7
  (Tunstall et al. 2023), the issue's range is 1e-6 to 1e-5; ``tiny`` uses 3e-5, chosen on val over 1e-4 with its
  speaking-state pairs and stage 2's replay windows (docs/training.md, s37; 1e-4 had won over 1e-3 and 3e-4 in s26);
* ``loss_weights`` [1.0, 1.0] (alpha 1): RPO's NLL weight (Pang et al. 2024) and TRL's suggested ``rpo_alpha``;
* trainable ``[connector, lm]``: the connector and the LoRA adapters (the whole backbone only in ``tiny``, which has
  no LoRA), as the issue asks; encoder, state-token rows and synthesizer stay frozen, the synthesizer loss is off.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from datagen.common.config import ConfigError
from datagen.schema import BLOCK_MS, BLOCK_SAMPLES

from .config import TrainConfig
from .data import WindowSampler, audio_seconds, make_train_batch, parse_data_arg
from .duplex import DuplexRecipe

STAGE = "dpo"
MODEL_KEYS = ("mic", "assistant", "tokens", "valid", "audible")  # what a pair batch hands the model's forward
METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
           "logps/rejected")


# ------------------------------------------------------------------------------------------------------------------
# The loss (pure functions: tests compare them with TRL's formula written out)
# ------------------------------------------------------------------------------------------------------------------
def dpo_sigmoid(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, beta: float,
                label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair sigmoid DPO losses and the implicit rewards (chosen, rejected) from summed span log-probs."""
    logits = (pc - pr) - (rc - rr)
    logsig = torch.nn.functional.logsigmoid
    losses = -(1 - label_smoothing) * logsig(beta * logits) - label_smoothing * logsig(-beta * logits)
    return losses, beta * (pc - rc).detach(), beta * (pr - rr).detach()


def span_scores(model, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """(rows,) summed log-probs over each row's span (``span`` mask), under the decoder's mask, two ways from one
    forward pass: ``tokens``, of each token; ``decisions``, of each block's decision only: ``<shift>`` or not (log p of
    ``<shift>``, or log(1 - p(``<shift>``)) for any other token).  While listening the two agree (only ``<think>``
    and ``<shift>`` are allowed); while speaking, ``decisions`` leaves the text out of the preference."""
    from model.targets import mode_before

    out = model({k: batch[k] for k in MODEL_KEYS}, return_logits=True)
    logits = out["logits"].float()
    dev = logits.device
    tokens = torch.as_tensor(batch["tokens"]).long().to(dev)
    mode = torch.as_tensor(batch["mode"]).long().to(dev)
    mode_prev = mode_before(mode, tokens, model.shift_id).long()
    logits = logits.masked_fill(~model.allowed(mode_prev), float("-inf"))
    logp = torch.log_softmax(logits, -1)
    token_lp = logp.gather(-1, tokens[..., None])[..., 0]
    shift_lp = logp[..., model.shift_id]
    keep_lp = torch.log(-torch.expm1(shift_lp))  # log(1 - p(<shift>)), per block: no second pass over the vocabulary
    decision_lp = torch.where(tokens == model.shift_id, shift_lp, keep_lp)
    span = torch.as_tensor(batch["span"]).bool().to(dev)
    return {"tokens": torch.where(span, token_lp, torch.zeros_like(token_lp)).sum(-1),
            "decisions": torch.where(span, decision_lp, torch.zeros_like(decision_lp)).sum(-1)}


def span_logps(model, batch: dict[str, Any], score: str = "tokens") -> torch.Tensor:
    """(rows,) the span sums :func:`span_scores` computes, scored as ``score`` says."""
    return span_scores(model, batch)[score]


# ------------------------------------------------------------------------------------------------------------------
# Data: pairs -> batches, the sampler with replayed SFT windows
# ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairUnit:
    pair: int
    source: int = 0
    event: bool = False
    task: str = "duplex"


class DpoSampler:
    """Pairs in a deterministic order (a :class:`WindowSampler` over pair indices), each carrying the replayed SFT
    windows due with it: ``floor((c+1) r) - floor(c r)`` for the ``c``-th pair drawn at ratio ``r``.  Checkpointable
    like the window sampler."""

    def __init__(self, n_pairs: int, seed: int, replay: WindowSampler | None, ratio: float) -> None:
        self.pairs = WindowSampler([PairUnit(i) for i in range(n_pairs)], [1.0], seed, 1.0)
        self.replay, self.ratio, self.count = replay, float(ratio) if replay is not None else 0.0, 0

    @property
    def windows(self):
        return self.pairs.windows

    @property
    def epoch(self) -> int:
        return self.pairs.epoch

    @property
    def position(self) -> int:
        return self.pairs.position

    def order(self, epoch: int) -> np.ndarray:
        return self.pairs.order(epoch)

    def take(self, n: int) -> list[tuple[PairUnit, tuple]]:
        out = []
        for unit in self.pairs.take(n):
            k = math.floor((self.count + 1) * self.ratio) - math.floor(self.count * self.ratio)
            out.append((unit, tuple(self.replay.take(k)) if k else ()))
            self.count += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs.state_dict(), "count": self.count,
                "replay": self.replay.state_dict() if self.replay is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "pairs" not in state:
            raise ConfigError("sampler state: not a stage-3 checkpoint (another stage's run directory?)")
        self.pairs.load_state_dict(state["pairs"])
        self.count = int(state["count"])
        if self.replay is not None and state.get("replay"):
            self.replay.load_state_dict(state["replay"])

    def clone(self) -> "DpoSampler":
        other = DpoSampler(0, self.pairs.seed, self.replay.clone() if self.replay is not None else None, self.ratio)
        other.pairs = self.pairs.clone()
        other.count = self.count
        return other


def pair_batch(pairs: Sequence[Any], shift_id: int) -> dict[str, np.ndarray]:
    """Pairs -> one batch of 2B rows (the chosen branches, then the rejected ones), padded to whole blocks."""
    from model.targets import mode_from_tokens

    rows = [p.inputs("chosen") for p in pairs] + [p.inputs("rejected") for p in pairs]
    spans = [p.span for p in pairs] * 2
    start_modes = [p.start_mode for p in pairs] * 2
    T = max(len(r[2]) for r in rows)
    R = len(rows)
    out = {"mic": np.zeros((R, T * BLOCK_SAMPLES), np.float32), "assistant": np.zeros((R, T * BLOCK_SAMPLES), np.float32),
           "tokens": np.zeros((R, T), np.int64), "mode": np.zeros((R, T), np.int8), "audible": np.zeros((R, T), np.int8),
           "valid": np.zeros((R, T), bool), "span": np.zeros((R, T), bool)}
    for b, ((mic, asst, tok), (d, e)) in enumerate(zip(rows, spans)):
        t = len(tok)
        out["mic"][b, : len(mic)], out["assistant"][b, : len(asst)] = mic, asst
        out["tokens"][b, :t], out["tokens"][b, t:] = tok, tok[-1]
        mode = mode_from_tokens(list(tok), shift_id)
        out["mode"][b, :t] = 1 - mode if start_modes[b] else mode
        out["mode"][b, t:] = out["mode"][b, t - 1]
        out["valid"][b, :t] = True
        out["span"][b, d:e] = True
    out["weight_pair"] = np.array([p.weight for p in pairs], np.float32)
    return out


def reference_logps(model, pairs: Sequence[Any], batch_size: int = 4, score: str = "tokens") -> np.ndarray:
    """(n, 2) the reference's summed span log-probs (chosen, rejected) of every pair, in order."""
    out = np.zeros((len(pairs), 2), np.float64)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i : i + batch_size]
            lp = span_logps(model, pair_batch(chunk, model.shift_id), score).double().cpu().numpy()
            out[i : i + len(chunk), 0], out[i : i + len(chunk), 1] = lp[: len(chunk)], lp[len(chunk):]
    return out


def reference_key(pairset, init_from: str, model_config: dict[str, Any], score: str = "tokens") -> str:
    """The hash a reference cache is stored under: the pair set's shards and definition, the reference tensors, the
    model config and the span score (``tokens`` hashes as before it existed)."""
    h = hashlib.sha256()
    h.update(json.dumps(pairset.definition, sort_keys=True).encode())
    for shard in pairset.shards:
        h.update(shard.name.encode())
        h.update(hashlib.sha256(shard.read_bytes()).digest())
    h.update(hashlib.sha256((Path(init_from) / "model.safetensors").read_bytes()).digest())
    h.update(json.dumps(model_config, sort_keys=True).encode())
    if score != "tokens":
        h.update(score.encode())
    return h.hexdigest()[:20]


def cached_reference(model, pairset, pairs: Sequence[Any], init_from: str, model_config: dict[str, Any],
                     batch_size: int, score: str = "tokens") -> tuple[np.ndarray, Path]:
    """The reference log-probs, computed once per pair set and reference model (atomic npz in the cache)."""
    import io

    from datagen.common.cache import cache_dir
    from datagen.common.files import atomic_write_bytes

    path = cache_dir("dpo-ref", f"{reference_key(pairset, init_from, model_config, score)}.npz")
    ids = np.array([p.id for p in pairs])
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if z["ids"].tolist() == ids.tolist():
                    return np.asarray(z["logps"], np.float64), path
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed
    ref = reference_logps(model, pairs, batch_size, score)
    buf = io.BytesIO()
    np.savez(buf, ids=ids, logps=ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return ref, path


# ------------------------------------------------------------------------------------------------------------------
# The loss task of the shared loop
# ------------------------------------------------------------------------------------------------------------------
class DpoTask:
    names = ("dpo_loss", "sft_loss", "replay_loss") + METRICS
    wants_step = True

    def __init__(self, cfg: TrainConfig, model, eval_data: str | None) -> None:
        d = cfg.dpo
        self.cfg, self.beta, self.ls = cfg, float(d.beta), float(d.label_smoothing)
        weights = dict(zip(d.loss_type, d.loss_weights))
        self.w_sig, self.w_sft = float(weights.get("sigmoid", 0.0)), float(weights.get("sft", 0.0))
        self.w_replay = float(d.replay_weight)
        self.score = d.score
        self.eval_data = eval_data

    def counts(self, batch: dict[str, Any]) -> np.ndarray:
        B = len(batch["weight_pair"])
        chosen_tokens = float(np.asarray(batch["span"])[:B].sum())
        replay = float(np.asarray(batch["replay"]["weight"]).sum()) if "replay" in batch else 0.0
        return np.array([float(np.asarray(batch["weight_pair"]).sum()), chosen_tokens, replay] + [float(B)] * 6)

    def _pair_terms(self, model, batch):
        B = len(batch["weight_pair"])
        scores = span_scores(model, batch)
        lp = scores[self.score]
        pc, pr = lp[:B], lp[B:]
        dev = lp.device
        ref = torch.as_tensor(batch["ref"], dtype=lp.dtype, device=dev)
        losses, rw_c, rw_r = dpo_sigmoid(pc, pr, ref[:, 0], ref[:, 1], self.beta, self.ls)
        w = torch.as_tensor(batch["weight_pair"], dtype=lp.dtype, device=dev)
        metrics = torch.stack([rw_c.sum(), rw_r.sum(), (rw_c - rw_r).sum(), (rw_c > rw_r).float().sum(),
                               pc.detach().sum(), pr.detach().sum()])
        return (losses * w).sum(), -scores["tokens"][:B].sum(), metrics  # the NLL anchors the chosen text too

    def loss(self, model, batch: dict[str, Any], counts: torch.Tensor, world: int):
        dpo_sum, nll_sum, metrics = self._pair_terms(model, batch)
        loss = self.w_sig * dpo_sum / counts[0].clamp_min(1e-9)
        if self.w_sft:
            loss = loss + self.w_sft * nll_sum / counts[1].clamp_min(1.0)
        replay_sum = torch.zeros((), device=dpo_sum.device)
        if "replay" in batch:
            replay_sum = model(batch["replay"])["token_ce_sum"]
            if self.w_replay:
                loss = loss + self.w_replay * replay_sum / counts[2].clamp_min(1.0)
        terms = torch.cat([torch.stack([dpo_sum.detach(), nll_sum.detach(), replay_sum.detach()]).float(),
                           metrics.float()])
        return loss * world, terms

    def total(self, values: dict[str, float]) -> float:
        return self.w_sig * values["dpo_loss"] + self.w_sft * values["sft_loss"] + self.w_replay * values["replay_loss"]

    def audio_seconds(self, batch: dict[str, Any]) -> float:
        extra = audio_seconds(batch["replay"]) if "replay" in batch else 0.0
        return float(np.asarray(batch["valid"]).sum()) * BLOCK_MS / 1000.0 + extra

    @torch.no_grad()
    def evaluate(self, model, batches: Sequence[dict[str, Any]], step: int = 0, run_dir: Path | None = None):
        sums = np.zeros(len(METRICS) + 1)
        n = 0
        for b in batches:
            dpo_sum, _, metrics = self._pair_terms(model, b)
            sums += np.concatenate([[float(dpo_sum)], metrics.cpu().numpy()])
            n += len(b["weight_pair"])
        out = {"dpo_loss": sums[0] / max(n, 1), **{k: sums[i + 1] / max(n, 1) for i, k in enumerate(METRICS)}}
        every = self.cfg.dpo.bench_every
        if self.eval_data and every and run_dir is not None and step % every == 0:
            out.update(self.bench(model, step, run_dir))
        return out

    def bench(self, model, step: int, run_dir: Path) -> dict[str, float]:
        """The closed-loop benchmark of the policy at this step (what the early dip and recovery show in)."""
        from benchmark.runner import RunConfig, run_bench
        from model.checkpoint import save_checkpoint

        from .checkpoints import omni_of

        folder = run_dir / "bench-steps" / f"step-{step:06d}"
        ckpt = save_checkpoint(omni_of(model), folder / "model")
        d = self.cfg.dpo
        res = run_bench(RunConfig(model="salmonn-omni", data=str(self.eval_data), out=str(folder / "bench"),
                                  model_options={"checkpoint": str(ckpt)}, tasks=list(d.bench_tasks),
                                  max_items=d.bench_max_items, save_audio=0, seed=self.cfg.seed, progress=False,
                                  asr=None, isolate=False))  # our own model, in process: no model process to start
        return bench_metrics(res.get("aggregates", {}))


def bench_metrics(aggregates: dict[str, Any]) -> dict[str, float]:
    """The benchmark numbers a DPO run watches, flat (``bench/barge_in_f1`` ...); missing ones are left out."""
    picks = {"barge_in": ("f1", "precision", "recall"), "pause_handling": ("takeover_rate",),
             "turn_taking": ("takeover_rate", "early_takeover_rate"), "backchannel": ("continue_rate",)}
    out = {}
    for task, keys in picks.items():
        for k in keys:
            v = (aggregates.get(task) or {}).get(k)
            if isinstance(v, (int, float)):
                out[f"bench/{task}_{k}"] = float(v)
    return out


def plot_dpo(history: Sequence[dict[str, Any]], out: Path) -> None:
    """``dpo.png``: the reward margins and accuracies per step, and the periodic benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from datagen.common.figures import save_figure

    train = [r for r in history if "rewards/margins" in r]
    evals = [r for r in history if "eval" in r]
    if not train:
        return
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    steps = [r["step"] for r in train]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
        axes[0].plot(steps, [r[key] for r in train], label=key)
    axes[0].set_ylabel("reward")
    axes[1].plot(steps, [r["rewards/accuracies"] for r in train], label="train rewards/accuracies")
    ev = [r for r in evals if "rewards/accuracies" in r["eval"]]
    if ev:
        axes[1].plot([r["step"] for r in ev], [r["eval"]["rewards/accuracies"] for r in ev], "o-",
                     label="eval rewards/accuracies")
    axes[1].set_ylabel("accuracy")
    axes[1].set_ylim(-0.05, 1.05)
    bench = sorted({k for r in evals for k in r["eval"] if k.startswith("bench/")})
    for k in bench:
        pts = [(r["step"], r["eval"][k]) for r in evals if k in r["eval"]]
        axes[2].plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=k[6:])
    axes[2].set_ylabel("benchmark")
    axes[2].set_xlabel("step")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    save_figure(fig, out)


# ------------------------------------------------------------------------------------------------------------------
# The recipe
# ------------------------------------------------------------------------------------------------------------------
def check(cfg: TrainConfig) -> None:
    if not cfg.init_from:
        raise ConfigError("init_from: stage 3 starts from the stage-2 policy, which is also its reference "
                          "(init_from=RUN2/final)")
    if "synth" in cfg.trainable or "encoder" in cfg.trainable:
        raise ConfigError("trainable: stage 3 trains the connector and the LoRA adapters (lm) only")
    if cfg.loss.synth != 0:
        raise ConfigError(f"loss.synth: stage 3 has no synthesizer loss (got {cfg.loss.synth}); set 0")


def split_data(data: Sequence[str]) -> tuple[str, list[str]]:
    """``--data``: exactly one pair set, and corpora for the replayed SFT windows."""
    from datagen.pairs.record import DEFINITION

    pairsets = [d for d in data if (Path(parse_data_arg(d)[0]) / DEFINITION).is_file()]
    if len(pairsets) != 1:
        raise ConfigError(f"--data: stage 3 needs exactly one pair set (a `duplexkit pairs` output), got "
                          f"{len(pairsets)} among {', '.join(data) or 'nothing'}")
    return parse_data_arg(pairsets[0])[0], [d for d in data if d not in pairsets]


class DpoRecipe:
    def __init__(self, cfg: TrainConfig, data: Sequence[str], eval_data: str | None, out: str | Path,
                 progress: bool = True) -> None:
        self.cfg, self.data, self.eval_data, self.out, self.progress = cfg, list(data), eval_data, Path(out), progress

    def setup(self) -> "DpoRecipe":
        from datagen.pairs import PairSet

        from .duplex import DuplexData, build_model
        from .loop import Trainer
        from .pairs import identity_of
        from .params import set_trainable

        cfg = self.cfg
        pairs_dir, corpora = split_data(self.data)
        pairset = PairSet(pairs_dir)
        pairset.check_finished()
        self.model, mcfg = build_model(cfg)
        pairset.check_identity(identity_of(self.model.cfg, self.model.tokenizer))
        pairs = pairset.load()
        if not pairs:
            raise ConfigError(f"{pairs_dir}: an empty pair set (no pairs to train on)")
        self.ref, self.ref_path = cached_reference(self.model, pairset, pairs, cfg.init_from, mcfg,
                                                   cfg.data.batch_size, cfg.dpo.score)
        params = set_trainable(self.model, cfg.trainable)
        if any(n == "task_embed" for n, _ in params):  # no transcription rows here: keep the task vector as it came
            self.model.task_embed.requires_grad_(False)
            params = [(n, p) for n, p in params if n != "task_embed"]
        replay = None
        if cfg.dpo.replay_ratio > 0:
            if not corpora:
                src = pairset.definition.get("corpus", {}).get("path")
                if not src or not Path(src).is_dir():
                    raise ConfigError("dpo.replay_ratio > 0 needs a corpus for the replayed SFT windows: add "
                                      "--data CORPUS (or dpo.replay_ratio=0)")
                corpora = [src]
            self.replay_data = DuplexData(cfg, corpora, self.model)
            replay = self.replay_data.sampler
        self.pairs = pairs
        sampler = DpoSampler(len(pairs), cfg.seed, replay, cfg.dpo.replay_ratio)
        task = DpoTask(cfg, self.model, self.eval_data)
        n_eval = min(len(pairs), cfg.eval.max_batches * cfg.data.batch_size)
        b = cfg.data.batch_size
        eval_batches = [self.build([(PairUnit(i), ()) for i in range(s, min(s + b, n_eval))])
                        for s in range(0, n_eval, b)]
        definition = {"stage": cfg.stage, "config": cfg.to_dict(), "model_config": mcfg,
                      "pairs": {"path": str(Path(pairs_dir).resolve()), "definition": pairset.definition,
                                "num_pairs": len(pairs)},
                      "data": [str(Path(parse_data_arg(c)[0]).resolve()) for c in corpora],
                      "reference": {"init_from": str(Path(cfg.init_from).resolve()), "cache": self.ref_path.name},
                      "eval_data": str(Path(self.eval_data).resolve()) if self.eval_data else None}
        self.trainer = Trainer(cfg, self.out, self.model, params, task, sampler, self.build, definition,
                               eval_batches=eval_batches, progress=self.progress).setup()
        return self

    def build(self, units: list[tuple[PairUnit, tuple]]) -> dict[str, Any]:
        chosen = [self.pairs[u.pair] for u, _ in units]
        batch = pair_batch(chosen, self.model.shift_id)
        batch["ref"] = np.stack([self.ref[u.pair] for u, _ in units]).astype(np.float32)
        replay = [w for _, ws in units for w in ws]
        if replay:
            r = self.replay_data
            batch["replay"] = make_train_batch(r.sources, replay, r.tokenizer, r.think_id, r.shift_id, self.cfg.loss)
        return batch

    # the loop's train and the final checkpoint are stage 2's, word for word
    train = DuplexRecipe.train
    save = DuplexRecipe.save

    def cleanup(self) -> dict[str, Any]:
        from .finish import finish_run

        self.trainer.cleanup()
        if not self.trainer.acc.is_main_process:
            return self.result
        plot_dpo(self.trainer.history, self.out / "dpo.png")
        summary = finish_run(self.out, self.final, self.result, self.trainer.history, self.eval_data, self.cfg,
                             self.progress)
        train = [r for r in self.trainer.history if "rewards/margins" in r]
        if train:
            summary.update({f"first_{k}": train[0][k] for k in ("rewards/accuracies", "rewards/margins")})
            summary.update({f"last_{k}": train[-1][k] for k in ("rewards/accuracies", "rewards/margins")})
        return summary


def run(cfg: TrainConfig, data: Sequence[str], eval_data: str | None, out: str | Path,
        progress: bool = True) -> dict[str, Any]:
    """setup / train / save / cleanup after this stage's checks."""
    check(cfg)
    recipe = DpoRecipe(cfg, data, eval_data, out, progress).setup()
    recipe.train()
    recipe.save()
    return recipe.cleanup()
