"""The built-in question bank: short verifiable QA items in six categories, and multi-turn topics.

Every assistant ``response`` states the answer in its first sentence and then elaborates for several seconds
(three to five sentences, 30 to 55 words), so a dialogue has speech to interrupt and to backchannel over, and a QA
score can look at the first sentence.  Answers are short and carry aliases (matched by
:mod:`datagen.content.scoring`).  Everything is written as it is spoken (no symbols or abbreviations), since the
text goes to a TTS engine.  The bank is built deterministically: no randomness at import, and arithmetic uses a
fixed seed of its own, so ids and texts are the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from datagen.content import facts
from datagen.content.numbers import number_to_words, ordinal, year_to_words
from datagen.content.topic_table import TOPICS


@dataclass(frozen=True)
class QAItem:
    """One question with its short answer, the aliases that also count, the spoken response and follow-ups that
    a user may barge in with (those about the answer are only asked once it was heard)."""

    id: str
    category: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    response: str
    followups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic:
    """A multi-turn session: connected questions asked in order (later ones lean on earlier answers)."""

    name: str
    items: tuple[QAItem, ...]


MIN_WORDS, MAX_WORDS = 30, 55
REFERENCE_YEAR = 2024  # "more than N years ago" is computed from here, so it stays true in later years

# Closing sentences that keep an answer going a few more seconds; chosen by item index, never at random.
CLOSINGS: tuple[str, ...] = (
    "If you would like, I can go into a little more detail about any part of that.",
    "Let me know if you want me to explain any of that a bit further.",
    "I hope that helps, and feel free to ask a follow up question.",
    "That is the short version, and there is a lot more to say if you are curious.",
    "Just ask if you want to know more about it.",
    "Happy to go on if you want the longer story.",
)
# General sentences that are true of any short fact in the bank.
NEUTRAL: tuple[str, ...] = (
    "It comes up a lot in quizzes, so it is a good one to remember.",
    "You will find the same answer in any good encyclopedia.",
    "Once you have heard it, it is quite easy to remember.",
    "It is the kind of thing many people learn at school and then forget.",
    "It is a well established fact, so you can rely on it.",
)


def _n_words(parts: Sequence[str]) -> int:
    return sum(len(p.split()) for p in parts)


def _compose(first: str, body: Sequence[str], pools: Sequence[Sequence[str]], i: int) -> str:
    """The answer sentence, then the body, then one sentence from each pool in turn (picked by ``i``) until the
    response has 30+ words and 3+ sentences (at most 55 words, 5 sentences)."""
    parts = [first]
    for s in body:
        if _n_words(parts) + len(s.split()) <= MAX_WORDS and len(parts) < 5:
            parts.append(s)
    pools = [p for p in pools if p]
    for r in range(max((len(p) for p in pools), default=0)):
        for pool in pools:
            if _n_words(parts) >= MIN_WORDS and len(parts) >= 3 or len(parts) >= 5:
                return " ".join(parts)
            s = pool[(i + r) % len(pool)]
            if _n_words(parts) + len(s.split()) <= MAX_WORDS and s not in parts:
                parts.append(s)
    return " ".join(parts)


def capitalize_first(s: str) -> str:
    """``s`` with its first letter upper case (the rest untouched, unlike ``str.capitalize``)."""
    return s[:1].upper() + s[1:]


# ------------------------------------------------------------------------------------------------------------------
# Categories
# ------------------------------------------------------------------------------------------------------------------
_CAPITAL_GENERIC = (
    "Capital cities are usually where a country's government is based, and {a} plays that role for {c}.",
    "It is the city that atlases and encyclopedias list as the capital of {c}.",
    "Like most capitals, it is an important centre of the country's political and public life.",
)


def _capitals() -> list[QAItem]:
    out = []
    questions = ("What is the capital of {c}?", "Which city is the capital of {c}?",
                 "Can you tell me the capital of {c}?", "Do you know what the capital of {c} is?")
    firsts = ("The capital of {c} is {a}.", "{a} is the capital of {c}.", "It is {a}, the capital city of {c}.")
    for i, (country, capital, aliases) in enumerate(facts.CAPITALS):
        short = country.removeprefix("the ")
        note = facts.CAPITAL_NOTES.get(capital)
        generic = [g.format(a=capital, c=country) for g in _CAPITAL_GENERIC]
        body = [note] if note else [generic[i % len(generic)]]
        others = [g for g in generic if g not in body]
        first = capitalize_first(firsts[i % len(firsts)].format(c=country, a=capital))
        resp = _compose(first, body, [others, NEUTRAL, CLOSINGS], i)
        if capital == short:  # city states: "is Singapore the biggest city in Singapore?" would be silly
            followups = ("wait, how many people live there?", "hold on, what language do people speak there?",
                         "sorry, how big is it?")
        else:
            followups = (
                f"wait, how many people live in {capital}?",
                f"hold on, what language do people speak in {short}?",
                f"sorry, is {capital} also the biggest city in {short}?",
                f"wait, what currency do they use in {short}?",
            )
        q = questions[i % len(questions)].format(c=country)
        out.append(QAItem(f"capitals-{i:04d}", "capitals", q, capital, aliases, resp, followups))
    return out


def _plus_method(a: int, b: int, ans: int) -> list[str]:
    if a >= 10 and b >= 10:
        ta, tb, oa, ob = a - a % 10, b - b % 10, a % 10, b % 10
        return [f"Add the tens first: {ta} plus {tb} is {ta + tb}.",
                f"Then add the ones: {oa} plus {ob} is {oa + ob}, and {ta + tb} plus {oa + ob} makes {ans}."]
    small, big = min(a, b), max(a, b)
    return [f"Start at {big} and count on {small} more, which takes you to {ans}."]


def _minus_method(a: int, b: int, ans: int) -> list[str]:
    if b >= 10 and b % 10:
        tb, ob = b - b % 10, b % 10
        return [f"Take away the tens first: {a} minus {tb} is {a - tb}.",
                f"Then take away the ones: {a - tb} minus {ob} is {ans}."]
    if b >= 10:
        return [f"Since {b} is a whole number of tens, you can simply count back {b // 10} tens from {a}."]
    return [f"Count back {b} from {a} and you land on {ans}."]


def _times_method(a: int, b: int, ans: int) -> list[str]:
    out = [f"{a} times {b} means {b} groups of {a}."]
    if b % 2 == 0:
        out.append(f"{a} times {b // 2} is {a * b // 2}, and doubling that gives {ans}.")
    elif b == 9:
        out.append(f"{a} times 10 is {a * 10}, and taking away one {a} gives {ans}.")
    else:
        out.append(f"{a} times {b - 1} is {a * (b - 1)}, and one more {a} makes {ans}.")
    return out


def _divide_method(a: int, b: int, ans: int) -> list[str]:
    return [f"That is because {b} times {ans} is {a}.",
            f"So if you share {a} equally into {b} groups, each group gets {ans}, with nothing left over."]


_OPS = {
    "plus": (lambda a, b: a + b, _plus_method, "You can check it by taking {b} away from {ans}, which gives back {a}."),
    "minus": (lambda a, b: a - b, _minus_method, "You can check it by adding {b} back to {ans}, which gives {a}."),
    "times": (lambda a, b: a * b, _times_method, "You can check it by dividing {ans} by {b}, which gives {a}."),
    "divided by": (lambda a, b: a // b, _divide_method, "Division is just multiplication run backwards."),
}


def _arithmetic() -> list[QAItem]:
    rng = np.random.default_rng(20250601)  # a fixed seed of its own: the bank is the same everywhere
    out: list[QAItem] = []
    ops = list(_OPS)
    seen = set()
    questions = ("What is {a} {op} {b}?", "How much is {a} {op} {b}?", "Can you work out {a} {op} {b}?",
                 "Quick one, what's {a} {op} {b}?")
    firsts = ("{a} {op} {b} is {ans}.", "The answer is {ans}.", "That comes to {ans}.", "It is {ans}.")
    while len(out) < 160:
        op = ops[len(out) % 4]
        if op == "plus":
            a, b = int(rng.integers(2, 100)), int(rng.integers(2, 100))
        elif op == "minus":
            a = int(rng.integers(20, 200))
            b = int(rng.integers(2, a))
        elif op == "times":
            a, b = int(rng.integers(2, 13)), int(rng.integers(2, 13))
        else:
            b = int(rng.integers(2, 13))
            a = b * int(rng.integers(2, 13))
        if (a, op, b) in seen:
            continue
        seen.add((a, op, b))
        i = len(out)
        fn, method, check = _OPS[op]
        ans = fn(a, b)
        first = firsts[(i // 4) % len(firsts)].format(a=a, b=b, op=op, ans=ans)
        body = [*method(a, b, ans), check.format(a=a, b=b, ans=ans)]
        resp = _compose(first, body, [CLOSINGS], i)
        followups = (
            f"wait, and what is {ans} {op} {b}?",
            "hold on, how did you get that?",
            f"sorry, what about {a} {op} {b + 1}?",
            "wait, can you go through that more slowly?",
        )
        q = questions[(i // 4 + i) % len(questions)].format(a=a, b=b, op=op)
        out.append(QAItem(f"arithmetic-{i:04d}", "arithmetic", q, str(ans), (number_to_words(ans),), resp, followups))
    return out


_UNIT_FACTS = (  # (big unit, its plural, small unit plural, factor, why)
    ("metre", "metres", "centimetres", 100, "centi means one hundredth"),
    ("metre", "metres", "millimetres", 1000, "milli means one thousandth"),
    ("kilometre", "kilometres", "metres", 1000, "kilo means one thousand"),
    ("kilogram", "kilograms", "grams", 1000, "kilo means one thousand"),
    ("litre", "litres", "millilitres", 1000, "milli means one thousandth"),
    ("centimetre", "centimetres", "millimetres", 10, "every centimetre is split into ten millimetres"),
    ("tonne", "tonnes", "kilograms", 1000, "a metric tonne is defined as one thousand kilograms"),
    ("hour", "hours", "minutes", 60, "every hour has sixty minutes"),
    ("hour", "hours", "seconds", 3600, "an hour has sixty minutes of sixty seconds each"),
    ("minute", "minutes", "seconds", 60, "every minute has sixty seconds"),
    ("day", "days", "hours", 24, "every day has twenty four hours"),
    ("week", "weeks", "days", 7, "every week has seven days"),
    ("fortnight", "fortnights", "days", 14, "a fortnight is two weeks"),
    ("year", "years", "months", 12, "every year has twelve months"),
    ("decade", "decades", "years", 10, "a decade is ten years"),
    ("century", "centuries", "years", 100, "a century is one hundred years"),
    ("millennium", "millennia", "years", 1000, "a millennium is one thousand years"),
    ("foot", "feet", "inches", 12, "every foot is divided into twelve inches"),
    ("yard", "yards", "feet", 3, "every yard is three feet"),
    ("mile", "miles", "yards", 1760, "a mile is defined as one thousand seven hundred and sixty yards"),
    ("pound", "pounds", "ounces", 16, "a pound is sixteen ounces"),
    ("dozen", "dozen", "eggs", 12, "a dozen always means twelve"),
)
_UNIT_AMOUNTS = (1, 2, 3, 5, 10)


def _units() -> list[QAItem]:
    out: list[QAItem] = []
    questions = ("How many {small} are there in {amount} {unit}?", "How many {small} are in {amount} {unit}?",
                 "Can you tell me how many {small} make {amount} {unit}?")
    firsts = ("There are {ans} {small} in {amount} {unit}.", "{amount} {unit} is {ans} {small}.",
              "The answer is {ans} {small}.")
    for big, plural, small, factor, why in _UNIT_FACTS:
        for n in _UNIT_AMOUNTS:
            i = len(out)
            amount = "a" if n == 1 else number_to_words(n)
            unit = big if n == 1 else plural
            ans = n * factor
            fmt = dict(small=small, amount=amount, unit=unit, ans=ans)
            first = capitalize_first(firsts[i % len(firsts)].format(**fmt))
            if n == 1:
                body = [f"That is because {why}.",
                        f"To convert any number of {plural} into {small}, multiply by {factor}, and to go back, "
                        f"divide by {factor}."]
            else:
                body = [f"That is because {why}, so you multiply {n} by {factor}.",
                        f"The same idea works for any amount: just multiply the number of {plural} by {factor}."]
            resp = _compose(first, body, [CLOSINGS], i)
            followups = (f"wait, what about {number_to_words(n + 1)} {plural}?", "hold on, why is it that number?",
                         f"sorry, and how many {small} are in half a {big}?")
            q = questions[i % len(questions)].format(**fmt)
            out.append(QAItem(f"units-{i:04d}", "units", q, str(ans), (number_to_words(ans),), resp, followups))
    return out


def _years_ago(year: int) -> str | None:
    gap = REFERENCE_YEAR - year
    if gap < 10:
        return None
    step = 100 if gap >= 200 else 10
    return f"That is more than {number_to_words(gap // step * step)} years ago now."


def _century(year: int) -> str:
    return f"So it happened in the {ordinal((year - 1) // 100 + 1)} century."


def _dates() -> list[QAItem]:
    out = []
    questions = ("In what year did {e}?", "What year did {e}?", "Quick history question: in what year did {e}?")
    firsts = ("That was in {y}.", "It happened in {y}.", "The answer is {y}.")
    for i, (event, year, fact) in enumerate(facts.DATES):
        said = year_to_words(year)
        extras = [[s] for s in (_years_ago(year), _century(year), f"In words, that year is said {said}.") if s]
        resp = _compose(firsts[i % len(firsts)].format(y=year), [fact], [*extras, CLOSINGS], i)
        followups = ("wait, who was involved in that?", "hold on, where exactly did that happen?",
                     "sorry, why was that so important?", "wait, how long ago is that?")
        q = questions[i % 2 if i % 7 else 2].format(e=event)
        out.append(QAItem(f"dates-{i:04d}", "dates", q, str(year), (said,), resp, followups))
    return out


def _from_table(name: str, table) -> list[QAItem]:
    out = []
    firsts = ("The answer is {a}.", "It is {a}.", "That would be {a}.")
    for i, (q, ans, aliases, fact) in enumerate(table):
        resp = _compose(firsts[i % len(firsts)].format(a=ans), [fact], [NEUTRAL, CLOSINGS], i)
        followups = ["wait, why is that?", "hold on, how do we know that?", "sorry, can you say more about that?"]
        if not ans.isdigit():
            followups.append(f"wait, where does the name {ans.removeprefix('the ').removeprefix('a ')} come from?")
        aliases = (*aliases, number_to_words(int(ans))) if ans.isdigit() else tuple(aliases)
        out.append(QAItem(f"{name}-{i:04d}", name, q, ans, tuple(dict.fromkeys(aliases)), resp, tuple(followups)))
    return out


@lru_cache(maxsize=1)
def _bank() -> tuple[QAItem, ...]:
    items = _capitals() + _arithmetic() + _units() + _dates()
    items += _from_table("science", facts.SCIENCE) + _from_table("geography", facts.GEOGRAPHY)
    return tuple(items)


def question_bank() -> list[QAItem]:
    """The built-in bank (deterministic order, stable ids like ``capitals-0007``)."""
    return list(_bank())


@lru_cache(maxsize=1)
def _topics() -> tuple[Topic, ...]:
    out = []
    for t, (slug, name, rows) in enumerate(TOPICS):
        items = []
        for j, (q, ans, aliases, first, more, followups) in enumerate(rows):
            resp = _compose(first, [more], [NEUTRAL, CLOSINGS], t + j)
            items.append(QAItem(f"topic-{slug}-{j:02d}", "topics", q, ans, tuple(aliases), resp, tuple(followups)))
        out.append(Topic(name, tuple(items)))
    return tuple(out)


def topics() -> list[Topic]:
    """Multi-turn sessions: 3-5 connected questions on one subject (later ones lean on earlier answers)."""
    return list(_topics())
