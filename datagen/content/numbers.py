"""Numbers as spoken words and back: answers are stored as digits, a listener (or an ASR) may hear words."""

from __future__ import annotations

import re

UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_VALUE = {w: i for i, w in enumerate(UNITS)} | {w: 10 * i for i, w in enumerate(TENS) if w}
_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
NUMBER_WORDS = set(_VALUE) | set(_SCALE) | {"oh"}


def number_to_words(n: int) -> str:
    """0 <= n < 10**9 in words, e.g. 1234 -> 'one thousand two hundred thirty four'."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return UNITS[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + UNITS[n % 10])
    if n < 1000:
        return UNITS[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_to_words(n % 100))
    for scale, name in ((1_000_000, "million"), (1000, "thousand")):
        if n >= scale:
            return number_to_words(n // scale) + f" {name}" + ("" if n % scale == 0 else " " + number_to_words(n % scale))
    raise AssertionError(n)


def year_to_words(y: int) -> str:
    """How years are said: 1989 -> 'nineteen eighty nine', 1905 -> 'nineteen oh five', 2007 -> 'two thousand seven'."""
    if 2000 <= y < 2010 or y < 1000:
        return number_to_words(y)
    hi, lo = divmod(y, 100)
    if lo == 0:
        return number_to_words(hi) + " hundred"
    return number_to_words(hi) + " " + ("oh " + UNITS[lo] if lo < 10 else number_to_words(lo))


def _two_digit(toks: list[str], i: int) -> tuple[int, int] | None:
    """A 10-99 value said as one or two words starting at ``i``: (value, next index)."""
    if i >= len(toks) or toks[i] not in _VALUE:
        return None
    v = _VALUE[toks[i]]
    if 10 <= v <= 19:
        return v, i + 1
    if v >= 20:
        if i + 1 < len(toks) and toks[i + 1] in _VALUE and 1 <= _VALUE[toks[i + 1]] <= 9:
            return v + _VALUE[toks[i + 1]], i + 2
        return v, i + 1
    return None


def _parse_year(toks: list[str]) -> int | None:
    first = _two_digit(toks, 0)
    if first is None:
        return None
    hi, i = first
    rest = toks[i:]
    if rest == ["hundred"]:
        return hi * 100
    if len(rest) == 2 and rest[0] == "oh" and rest[1] in _VALUE and 1 <= _VALUE[rest[1]] <= 9:
        return hi * 100 + _VALUE[rest[1]]
    second = _two_digit(toks, i)
    if second is not None and second[1] == len(toks):
        return hi * 100 + second[0]
    return None


def words_to_number(toks: list[str]) -> int | None:
    toks = [t for t in toks if t != "and"]
    if not toks:
        return None
    year = _parse_year(toks)
    if year is not None:
        return year
    total = current = 0
    for t in toks:
        if t in _VALUE:
            current += _VALUE[t]
        elif t == "hundred":
            current = max(current, 1) * 100
        elif t in ("thousand", "million"):
            total += max(current, 1) * _SCALE[t]
            current = 0
        else:
            return None
    return total + current


def replace_number_words(text: str) -> str:
    """Every run of number words in (lower-case, punctuation-free) ``text`` replaced by its digits."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if not run:
            return
        trailing = 0
        while run and run[-1] == "and":  # a trailing "and" belongs to the sentence, not the number
            run.pop()
            trailing += 1
        value = words_to_number(run) if run else None
        out.extend([str(value)] if value is not None else run)
        out.extend(["and"] * trailing)
        run.clear()

    for tok in text.split():
        if tok in NUMBER_WORDS and tok != "oh" or (tok in ("and", "oh") and run):
            run.append(tok)
        else:
            flush()
            out.append(tok)
    flush()
    return " ".join(out)


_DIGIT_GROUPS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def strip_digit_groups(text: str) -> str:
    return _DIGIT_GROUPS.sub("", text)
