"""The LLM backbone by name: a tiny random Llama (tests), SmolLM2-135M (offline), or a local HF model (8B).

The backbone is used through its decoder (``inputs_embeds`` in, hidden states out) so audio embeddings can be
interleaved with tokens and only the positions that decide a token go through the (large) LM head.  The state
tokens ``<think>``/``<shift>`` get their own small embedding table and output rows (:class:`StateTokenHead`)
instead of a resized vocabulary: a frozen pretrained backbone and its tied embeddings stay untouched, and a LoRA
checkpoint does not have to carry a 49k x 576 embedding matrix for two new rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from datagen.common.errors import one_line

from .config import BackboneConfig, ModelConfig
from .tokens import STATE_TOKENS, ByteTokenizer, HFTokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}  # config.DTYPE_NAMES


def backbone_dtype(name: str) -> torch.dtype:
    """``backbone.dtype`` as a torch dtype; ``auto``: bfloat16 where the device does bf16 natively (a CPU without it
    emulates bf16, ~3x slower than float32: datagen/common/hardware.py), else float32."""
    from datagen.common.hardware import native_bf16

    if name == "auto":
        return torch.bfloat16 if native_bf16() else torch.float32
    return DTYPES[name]


def _tiny_llama_config(b: BackboneConfig, vocab: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=b.hidden_size,
        intermediate_size=b.intermediate_size,
        num_hidden_layers=b.n_layers,
        num_attention_heads=b.n_heads,
        num_key_value_heads=b.n_kv_heads,
        max_position_embeddings=131072,
        rope_theta=500000.0,
        tie_word_embeddings=(b.kind == "tiny"),
        pad_token_id=None,
        bos_token_id=None,
        eos_token_id=None,
    )


def _byte_tokenizer(b: BackboneConfig) -> ByteTokenizer:
    """The random backbones' tokenizer: bytes plus the state tokens (a llama_shape vocab puts them at its end)."""
    tok = ByteTokenizer()
    vocab = b.vocab_size or tok.base_vocab
    if b.kind == "llama_shape" and vocab > tok.base_vocab:
        tok.base_vocab = vocab
        tok.special = {t: vocab + i for i, t in enumerate(STATE_TOKENS)}
    return tok


def load_backbone(cfg: ModelConfig, meta: bool = False) -> tuple[Any, nn.Module]:
    """(tokenizer, causal LM) for ``cfg.backbone``; ``meta`` builds shapes only (parameter counts, no weights).

    Errors are one line naming the key and what to do (missing local path, missing package)."""
    from datagen.common.llm import offline, quiet_transformers, smollm2_plain_dir

    offline()
    from transformers import AutoTokenizer, LlamaForCausalLM, AutoModelForCausalLM

    b = cfg.backbone
    dtype = backbone_dtype(b.dtype)
    if b.kind in ("tiny", "llama_shape"):
        tok = _byte_tokenizer(b)
        config = _tiny_llama_config(b, b.vocab_size or tok.base_vocab)
        config._attn_implementation = "sdpa"
        ctx = torch.device("meta") if meta else _nullcontext()
        with ctx:
            lm = LlamaForCausalLM(config)
        return tok, lm.to(dtype)
    if b.kind == "smollm2":
        directory = smollm2_plain_dir()
    else:
        directory = Path(b.path).expanduser()
        if not directory.is_dir():
            raise RuntimeError(
                f"backbone.path {b.path!r} is not a local directory: put the model there "
                f"(e.g. Meta-Llama-3-8B-Instruct) or pass backbone.path=DIR"
            )
        if not (directory / "config.json").is_file():
            raise RuntimeError(f"backbone.path {b.path!r} has no config.json: not a Hugging Face model directory")
    quiet_transformers()
    try:
        hf_tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        if meta:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
            with torch.device("meta"):
                lm = AutoModelForCausalLM.from_config(config)
        else:
            lm = AutoModelForCausalLM.from_pretrained(str(directory), dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"backbone {directory}: cannot load ({one_line(exc)})") from None
    tok = HFTokenizer(hf_tok, base_vocab=int(lm.config.vocab_size))
    return tok, lm


def load_tokenizer(cfg: ModelConfig):
    """The tokenizer of ``cfg.backbone`` without building the LM (pair sets are made without a model)."""
    b = cfg.backbone
    if b.kind in ("tiny", "llama_shape"):
        return _byte_tokenizer(b)
    from datagen.common.llm import offline, smollm2_plain_dir

    offline()
    from transformers import AutoConfig, AutoTokenizer

    directory = smollm2_plain_dir() if b.kind == "smollm2" else Path(b.path).expanduser()
    try:
        hf_tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        vocab = int(AutoConfig.from_pretrained(str(directory), local_files_only=True).vocab_size)
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"backbone {directory}: cannot load its tokenizer ({one_line(exc)})") from None
    return HFTokenizer(hf_tok, base_vocab=vocab)


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def apply_lora(lm: nn.Module, cfg: BackboneConfig) -> nn.Module:
    """Freeze the base and inject LoRA adapters (peft) into the target projections; rank 0 leaves ``lm`` as is."""
    if cfg.lora.rank <= 0:
        if cfg.freeze:
            lm.requires_grad_(False)
        return lm
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise RuntimeError("backbone.lora.rank > 0 needs peft: pip install peft") from None
    lm.requires_grad_(False)
    lcfg = LoraConfig(r=cfg.lora.rank, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.targets), bias="none")
    # inject in place: the module tree (and so the checkpoint key names) stays the base model's plus lora_A/B
    return inject_adapter_in_model(lcfg, lm)


class StateTokenHead(nn.Module):
    """Embeddings and output logits for ids ``base_vocab`` and up (the state tokens), next to the base LM's."""

    def __init__(self, d: int, n: int = len(STATE_TOKENS)) -> None:
        super().__init__()
        self.embed = nn.Parameter(torch.randn(n, d) * 0.02)
        self.head = nn.Linear(d, n, bias=False)
        nn.init.normal_(self.head.weight, std=0.02)
