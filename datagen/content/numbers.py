"""Numbers as spoken words and back: answers are stored as digits, a listener (or an ASR) may hear words.

:func:`replace_number_words` turns every run of number words into digits ("twenty one" -> "21", "one hundred and
five" -> "105", "nineteen eighty nine" -> "1989", "two thousand seven" -> "2007"); runs that are not one number are
split where a new number starts ("one two three" -> "1 2 3").
"""

from __future__ import annotations

import re

UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = {
    1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth", 9: "ninth",
    10: "tenth", 11: "eleventh", 12: "twelfth", 13: "thirteenth", 14: "fourteenth", 15: "fifteenth",
    16: "sixteenth", 17: "seventeenth", 18: "eighteenth", 19: "nineteenth", 20: "twentieth", 21: "twenty first",
}
_VALUE = {w: i for i, w in enumerate(UNITS)} | {w: 10 * i for i, w in enumerate(TENS) if w}
_SCALE = {"thousand": 1000, "million": 1_000_000}
NUMBER_WORDS = set(_VALUE) | set(_SCALE) | {"hundred"}


def number_to_words(n: int) -> str:
    """|n| < 10**9 in words, e.g. 1234 -> 'one thousand two hundred thirty four'."""
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
    if 2000 <= y < 2010 or y < 1000 or y % 1000 == 0:
        return number_to_words(y)
    hi, lo = divmod(y, 100)
    if lo == 0:
        return number_to_words(hi) + " hundred"
    return number_to_words(hi) + " " + ("oh " + UNITS[lo] if lo < 10 else number_to_words(lo))


def ordinal(n: int) -> str:
    """1..21 as ordinal words (used for centuries)."""
    return ORDINALS[n]


# ----------------------------------------------------------------------------------------------------------------
# Words -> digits
# ----------------------------------------------------------------------------------------------------------------
def _kind(v: int) -> str:
    return "unit" if v < 10 else "teen" if v < 20 else "tens"


def _cardinal(toks: list[str], i: int) -> tuple[int, int] | None:
    """The longest well-formed cardinal starting at ``i``: (value, next index), or None."""
    total, cur, last, cap, j = 0, 0, None, None, i
    while j < len(toks):
        t = toks[j]
        if t == "and":  # "one hundred and five", "two thousand and seven"; any other "and" ends the number
            nxt = toks[j + 1] if j + 1 < len(toks) else ""
            if last in ("hundred", "scale") and nxt in _VALUE and _VALUE[nxt] > 0:
                j += 1
                continue
            break
        if t in _VALUE:
            v = _VALUE[t]
            if v == 0:
                if last is None:
                    return 0, j + 1
                break
            kind = _kind(v)
            ok = last in (None, "tens", "hundred", "scale") if kind == "unit" else last in (None, "hundred", "scale")
            if not ok:
                break
            cur += v
            last = kind
        elif t == "hundred":
            if cur >= 100 or last == "hundred":
                break
            cur = max(cur, 1) * 100
            last = "hundred"
        elif t in _SCALE:
            s = _SCALE[t]
            if cap is not None and s >= cap:
                break
            total += max(cur, 1) * s
            cur, cap, last = 0, s, "scale"
        else:
            break
        j += 1
    if last is None:
        return None
    return total + cur, j


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


def _year(toks: list[str], i: int) -> tuple[int, int] | None:
    """A year said in two halves ("nineteen eighty nine", "nineteen oh five", "twenty twenty"): (value, next)."""
    first = _two_digit(toks, i)
    if first is None:
        return None
    hi, j = first
    if j + 1 < len(toks) and toks[j] == "oh" and toks[j + 1] in _VALUE and 1 <= _VALUE[toks[j + 1]] <= 9:
        return hi * 100 + _VALUE[toks[j + 1]], j + 2
    second = _two_digit(toks, j)
    if second is not None:
        return hi * 100 + second[0], second[1]
    return None


def _segment(toks: list[str]) -> list[str]:
    """Number words (with the "and"/"oh" they may contain) -> digits, one token per number."""
    out: list[str] = []
    i = 0
    while i < len(toks):
        card, year = _cardinal(toks, i), _year(toks, i)
        if year is not None and (card is None or year[1] > card[1]):
            card = year
        if card is None:
            out.append(toks[i])
            i += 1
            continue
        out.append(str(card[0]))
        i = card[1]
    return out


def words_to_number(toks: list[str]) -> int | None:
    """The value of a token list that is exactly one number (cardinal or year), else None."""
    seg = _segment(list(toks))
    return int(seg[0]) if len(seg) == 1 and seg[0].isdigit() else None


def replace_number_words(text: str) -> str:
    """Every run of number words in (lower-case, punctuation-free) ``text`` replaced by its digits."""
    out: list[str] = []
    run: list[str] = []
    for tok in text.split():
        if tok in NUMBER_WORDS or (tok in ("and", "oh") and run):
            run.append(tok)
        else:
            out.extend(_segment(run))
            run = []
            out.append(tok)
    out.extend(_segment(run))
    return " ".join(out)


_DIGIT_GROUPS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def strip_digit_groups(text: str) -> str:
    """'1,000' -> '1000' (so digit groups survive punctuation stripping as one number)."""
    return _DIGIT_GROUPS.sub("", text)
