"""Text as spoken, shared by the LM builder and WER, so that "102" in a script and "one hundred and two" in a
transcript count as the same words."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d+")
_NON_WORD = re.compile(r"[^a-z' ]+")


def _number_words(m: re.Match) -> str:
    from datagen.content.numbers import number_to_words

    return f" {number_to_words(int(m.group()))} "


def spoken_words(text: str) -> list[str]:
    """Lower-case words as spoken: digits read out ("102" -> "one hundred two"), hyphens split, punctuation and
    quotes dropped (inner apostrophes kept: "what's")."""
    from datagen.content.numbers import strip_digit_groups

    t = strip_digit_groups(str(text).lower())
    t = _DIGITS.sub(_number_words, t.replace("-", " "))
    t = _NON_WORD.sub(" ", t)
    return [w.strip("'") for w in t.split() if w.strip("'")]


# Contractions and spellings ASRs choose freely, expanded on both sides of a WER (not in the LM's words).
_WER_SAME = {
    "you're": "you are", "it's": "it is", "that's": "that is", "what's": "what is", "i'm": "i am",
    "don't": "do not", "isn't": "is not", "there's": "there is", "let's": "let us", "we're": "we are",
    "they're": "they are", "here's": "here is", "i'll": "i will", "you'll": "you will", "can't": "cannot",
    "litre": "liter", "litres": "liters", "millilitre": "milliliter", "millilitres": "milliliters",
    "metre": "meter", "metres": "meters", "kilometre": "kilometer", "kilometres": "kilometers",
    "centimetre": "centimeter", "centimetres": "centimeters", "colour": "color", "okay": "ok",
}


def _wer_tokens(text: str) -> list[str]:
    from datagen.content.numbers import replace_number_words

    words = " ".join(_WER_SAME.get(w, w) for w in spoken_words(text))
    # number words -> digits on both sides, so "one hundred and two" and "one hundred two" agree
    return replace_number_words(words).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length) after :func:`spoken_words` + number normalisation."""
    ref, hyp = _wer_tokens(reference), _wer_tokens(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def word_hits(reference: str, hypothesis: str) -> tuple[int, int]:
    """(reference words the hypothesis has, in order: the longest common subsequence, reference length), after the
    same normalisation as :func:`word_errors`.  Unlike the WER it is not inflated by insertions or by a number
    heard as other words, so it tells speech that was partly understood from speech nobody could understand."""
    ref, hyp = _wer_tokens(reference), _wer_tokens(hypothesis)
    prev = [0] * (len(hyp) + 1)
    for r in ref:
        cur = [0] * (len(hyp) + 1)
        for j, h in enumerate(hyp, 1):
            cur[j] = prev[j - 1] + 1 if r == h else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    errors, n = word_errors(reference, hypothesis)
    return errors / max(n, 1)
