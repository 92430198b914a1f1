"""Spoken content: a built-in bank of questions with verifiable answers, multi-turn topics, and the helpers the
planners use to build pauses, related follow-ups (true interruptions) and unrelated questions (distractors).

Every assistant ``response`` states the answer in its first sentence and then elaborates for several seconds, so
a dialogue has speech to interrupt and to backchannel over, and a QA score can look at the first sentence.
Answers are short and carry aliases; :func:`is_correct` matches them after :func:`normalize_answer` (number words
to digits, articles and punctuation dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from datagen.content import facts
from datagen.content.numbers import number_to_words, replace_number_words, strip_digit_groups, year_to_words


@dataclass(frozen=True)
class QAItem:
    id: str
    category: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    response: str
    followups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic:
    name: str
    items: tuple[QAItem, ...]


# Closing sentences that keep an answer going for a few more seconds; chosen by item index, never random.
CLOSINGS: tuple[str, ...] = (
    "If you would like, I can go into a little more detail about any part of that.",
    "Let me know if you want me to explain any of that a bit further.",
    "It is one of those facts that is easy to remember once you have heard it.",
    "I hope that helps, and feel free to ask a follow up question.",
    "That is the short version, and there is a lot more to say if you are curious.",
)


def _closing(i: int) -> str:
    return CLOSINGS[i % len(CLOSINGS)]


def _capitals() -> list[QAItem]:
    out = []
    templates = (
        "The capital of {c} is {a}. It is one of the best known cities in {c}, and many of the country's most "
        "important institutions are found there. {close}",
        "{a} is the capital of {c}. It is a major centre for politics, culture and travel, and most visitors to "
        "{c} pass through it at some point. {close}",
        "The answer is {a}, the capital city of {c}. Like most capitals it is home to museums, embassies and "
        "plenty of history, which makes it a good place to start exploring. {close}",
    )
    for i, (country, capital, aliases) in enumerate(facts.CAPITALS):
        q = ("What is the capital of {c}?", "Which city is the capital of {c}?", "Can you tell me the capital of {c}?")[i % 3]
        c = country
        resp = templates[i % 3].format(c=c, a=capital, close=_closing(i))
        short = country.removeprefix("the ")
        followups = (
            f"wait, how many people live in {capital}?",
            f"hold on, what language do people speak in {short}?",
            f"sorry, is {capital} also the biggest city in {short}?",
        )
        out.append(QAItem(f"capitals-{i:04d}", "capitals", q.format(c=c), capital, aliases, resp, followups))
    return out


_OPS = {
    "plus": (lambda a, b: a + b, "add {a} and {b}"),
    "minus": (lambda a, b: a - b, "take {b} away from {a}"),
    "times": (lambda a, b: a * b, "multiply {a} by {b}"),
    "divided by": (lambda a, b: a // b, "divide {a} into {b} equal parts"),
}


def _arithmetic() -> list[QAItem]:
    rng = np.random.default_rng(20250601)  # a fixed seed: the bank is the same everywhere
    out = []
    ops = list(_OPS)
    seen = set()
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
        fn, method = _OPS[op]
        ans = fn(a, b)
        check = {
            "plus": f"taking {b} away from {ans} again, which gives back {a}",
            "minus": f"adding {b} back to {ans}, which gives {a} again",
            "times": f"dividing {ans} by {b}, which gives {a}",
            "divided by": f"multiplying {ans} by {b}, which gives back {a}",
        }[op]
        q = (f"What is {a} {op} {b}?", f"How much is {a} {op} {b}?", f"Can you work out {a} {op} {b}?")[i % 3]
        resp = (
            f"{a} {op} {b} is {ans}. To get it, you {method.format(a=a, b=b)}, and the result is {ans}. "
            f"You can check it by {check}. {_closing(i)}"
        )
        followups = (
            f"wait, and what is {ans} {op} {b}?",
            "hold on, how did you get that?",
            f"sorry, what about {a} {op} {b + 1}?",
        )
        out.append(QAItem(f"arithmetic-{i:04d}", "arithmetic", q, str(ans), (number_to_words(ans),), resp, followups))
    return out


_UNIT_FACTS = (  # (big unit, small unit, factor, note)
    ("metre", "centimetres", 100, "centi means one hundredth"),
    ("metre", "millimetres", 1000, "milli means one thousandth"),
    ("kilometre", "metres", 1000, "kilo means one thousand"),
    ("kilogram", "grams", 1000, "kilo means one thousand"),
    ("litre", "millilitres", 1000, "milli means one thousandth"),
    ("centimetre", "millimetres", 10, "there are ten millimetres in every centimetre"),
    ("hour", "minutes", 60, "there are sixty minutes in every hour"),
    ("minute", "seconds", 60, "there are sixty seconds in every minute"),
    ("day", "hours", 24, "there are twenty four hours in every day"),
    ("week", "days", 7, "there are seven days in every week"),
    ("year", "months", 12, "there are twelve months in every year"),
    ("foot", "inches", 12, "there are twelve inches in every foot"),
    ("yard", "feet", 3, "there are three feet in every yard"),
    ("dozen", "items", 12, "a dozen always means twelve"),
)
_PLURAL = {"metre": "metres", "kilometre": "kilometres", "kilogram": "kilograms", "litre": "litres",
           "centimetre": "centimetres", "hour": "hours", "minute": "minutes", "day": "days", "week": "weeks",
           "year": "years", "foot": "feet", "yard": "yards", "dozen": "dozen"}


def _units() -> list[QAItem]:
    out = []
    for big, small, factor, note in _UNIT_FACTS:
        for n in (1, 2, 3, 4, 5, 7, 10):
            i = len(out)
            amount = "a" if n == 1 else number_to_words(n)
            unit = big if n == 1 else _PLURAL[big]
            if big == "dozen":
                q = f"How many items are in {amount} dozen?"
            else:
                q = f"How many {small} are there in {amount} {unit}?"
            ans = n * factor
            resp = (
                f"There are {ans} {small} in {amount} {unit}. That is because {note}, so you multiply {n} by "
                f"{factor}. The same idea works for any amount: just multiply by {factor}. {_closing(i)}"
            )
            followups = (f"wait, what about {number_to_words(n + 1)} {_PLURAL[big]}?", "hold on, why is it that number?")
            out.append(QAItem(f"units-{i:04d}", "units", q, str(ans), (number_to_words(ans),), resp, followups))
    return out


def _dates() -> list[QAItem]:
    out = []
    for i, (event, year, fact) in enumerate(facts.DATES):
        q = f"In what year did {event}?" if i % 2 == 0 else f"What year did {event}?"
        said = year_to_words(year)
        resp = f"That was in {year}. {fact} It is one of the dates that many history books start a chapter with. {_closing(i)}"
        followups = ("wait, who was involved in that?", "hold on, where exactly did that happen?", "sorry, why was that so important?")
        out.append(QAItem(f"dates-{i:04d}", "dates", q, str(year), (said,), resp, followups))
    return out


def _from_table(name: str, table) -> list[QAItem]:
    out = []
    for i, (q, ans, aliases, fact) in enumerate(table):
        resp = f"The answer is {ans}. {fact} It is a nice example of how much there is to learn about the world around us. {_closing(i)}"
        followups = ("wait, why is that?", "hold on, how do we know that?", "sorry, can you say more about that?")
        out.append(QAItem(f"{name}-{i:04d}", name, q, ans, tuple(aliases), resp, followups))
    return out


@lru_cache(maxsize=1)
def _bank() -> tuple[QAItem, ...]:
    items = _capitals() + _arithmetic() + _units() + _dates()
    items += _from_table("science", facts.SCIENCE) + _from_table("geography", facts.GEOGRAPHY)
    return tuple(items)


def question_bank() -> list[QAItem]:
    """The built-in bank (deterministic order, stable ids)."""
    return list(_bank())


@lru_cache(maxsize=1)
def _topics() -> tuple[Topic, ...]:
    from datagen.content.topic_table import TOPICS  # not "topics": the submodule would shadow topics()

    out = []
    for t, (name, rows) in enumerate(TOPICS):
        items = []
        for j, (q, ans, aliases, first, more) in enumerate(rows):
            resp = f"{first} {more} {_closing(t + j)}"
            items.append(QAItem(f"topic-{t:02d}-{j}", "topics", q, ans, tuple(aliases), resp,
                                ("wait, why is that?", "hold on, can you explain that part again?")))
        out.append(Topic(name, tuple(items)))
    return tuple(out)


def topics() -> list[Topic]:
    """Multi-turn sessions: 3-5 connected questions on one subject."""
    return list(_topics())


# ------------------------------------------------------------------------------------------------------------------
# Planner helpers
# ------------------------------------------------------------------------------------------------------------------
FILLERS = ("um,", "uh,", "so,", "hmm,", "well,")
INTERRUPT_PREFIXES = ("wait,", "sorry,", "hold on,", "actually,", "oh,")
THIRD_PARTY_NAMES = ("Sam", "Alex", "Maria", "Tom", "Priya", "Chris", "Lena", "Omar")
FALLBACK_UNRELATED = (
    "do you know what time the shop closes today?",
    "have you seen my keys anywhere?",
    "what are we having for dinner tonight?",
    "did you remember to call the plumber?",
)
_STOP = set("the a an and or but of to in on at for with is are was were be been it its this that there their they "
            "you your i we he she his her them as by from so if then than also very can will would could about "
            "which what who how when where why do does did not no yes just like more most some many much".split())


def pause_split(question: str, rng: np.random.Generator) -> tuple[str, str]:
    """Split a question for an in-turn pause: ("What is the capital of", "uh, France?") and the like.

    The words of ``question`` are kept in order; a filler may start the second part (a speaker resuming).
    """
    words = question.split()
    if len(words) < 2:
        return FILLERS[int(rng.integers(len(FILLERS)))].rstrip(","), question
    lo = max(1, len(words) // 3)
    k = int(rng.integers(lo, len(words)))
    first, second = " ".join(words[:k]), " ".join(words[k:])
    if rng.random() < 0.5:
        second = f"{FILLERS[int(rng.integers(len(FILLERS)))]} {second}"
    return first, second


def related_interruption(item: QAItem | None, spoken: str, rng: np.random.Generator) -> str:
    """A true, context-dependent barge-in: a follow-up about what the assistant is saying right now."""
    if item is not None and item.followups and rng.random() < 0.7:
        return item.followups[int(rng.integers(len(item.followups)))]
    words = [re.sub(r"[^\w'-]", "", w) for w in spoken.split()[-12:]]
    content = [w for w in words if len(w) > 3 and w.lower() not in _STOP]
    prefix = INTERRUPT_PREFIXES[int(rng.integers(len(INTERRUPT_PREFIXES)))]
    if content:
        word = content[int(rng.integers(len(content)))]
        shapes = (f"{prefix} what do you mean by {word}?", f"{prefix} can you tell me more about {word}?",
                  f"{prefix} why {word}?")
        return shapes[int(rng.integers(len(shapes)))]
    return f"{prefix} can you explain that again?"


def unrelated_question(item: QAItem | None, rng: np.random.Generator, bank: Sequence[QAItem]) -> str:
    """A distractor: a third person asks someone else something unrelated (another category than ``item``)."""
    pool = [b for b in bank if item is None or b.category != item.category]
    if pool:
        q = pool[int(rng.integers(len(pool)))].question
        q = q[0].lower() + q[1:]
    else:
        q = FALLBACK_UNRELATED[int(rng.integers(len(FALLBACK_UNRELATED)))]
    name = THIRD_PARTY_NAMES[int(rng.integers(len(THIRD_PARTY_NAMES)))]
    return f"Hey {name}, {q}" if rng.random() < 0.6 else q[0].upper() + q[1:]


# ------------------------------------------------------------------------------------------------------------------
# Scoring answers
# ------------------------------------------------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, digits for number words, no punctuation or articles, single spaces."""
    t = strip_digit_groups(text.lower())
    t = re.sub(r"[^\w\s]", " ", t.replace("-", " "))
    t = replace_number_words(" ".join(t.split()))
    t = _ARTICLES.sub(" ", t)
    return " ".join(t.split())


def is_correct(hypothesis: str, item_or_answers: QAItem | Sequence[str]) -> bool:
    """True when the answer or an alias occurs as whole words in the hypothesis (after normalisation)."""
    if isinstance(item_or_answers, QAItem):
        answers = (item_or_answers.answer, *item_or_answers.aliases)
    else:
        answers = tuple(item_or_answers)
    hyp = f" {normalize_answer(hypothesis)} "
    return any(a and f" {a} " in hyp for a in (normalize_answer(x) for x in answers))
