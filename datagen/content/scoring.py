"""Answer scoring: does a transcript contain an item's answer?  Matching is on normalised text (number words to
digits, articles and punctuation dropped), so "The answer is twenty-one!" matches the answer "21"."""

from __future__ import annotations

import re
from typing import Sequence

from datagen.content.bank import QAItem
from datagen.content.numbers import replace_number_words, strip_digit_groups

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, digits for number words (0..999999 and years said in halves), no punctuation or articles,
    single spaces: "The answer is twenty-one!" -> "answer is 21", "nineteen eighty nine" -> "1989"."""
    t = strip_digit_groups(str(text).lower())
    t = re.sub(r"(?<=\d)\.(?=\d)", "point", t)  # "2.25" stays one token, so it does not match "2"
    t = re.sub(r"[^\w\s]|_", " ", t.replace("-", " "))
    t = replace_number_words(" ".join(t.split()))
    t = _ARTICLES.sub(" ", t)
    return " ".join(t.split())


def is_correct(hypothesis: str, item_or_answers: QAItem | Sequence[str]) -> bool:
    """True when the answer or an alias occurs as whole words in the hypothesis (both normalised)."""
    if isinstance(item_or_answers, QAItem):
        answers: Sequence[str] = (item_or_answers.answer, *item_or_answers.aliases)
    elif isinstance(item_or_answers, str):
        answers = (item_or_answers,)
    else:
        answers = tuple(item_or_answers)
    hyp = f" {normalize_answer(hypothesis)} "
    return any(a and f" {a} " in hyp for a in (normalize_answer(x) for x in answers))
