"""Spoken content: a built-in bank of questions with verifiable answers, multi-turn topics, and the helpers the
planners use to build pauses, related follow-ups (true interruptions) and unrelated questions (distractors).

Every assistant ``response`` states the answer in its first sentence and then elaborates for several seconds
(three to five sentences, 30 to 55 words), so a dialogue has speech to interrupt and to backchannel over, and a QA
score can look at the first sentence.  Answers are short and carry aliases; :func:`is_correct` matches them after
:func:`normalize_answer` (number words to digits, articles and punctuation dropped).  Everything is written as it
is spoken (no symbols or abbreviations), since the text goes to a TTS engine.

The bank is built deterministically (no randomness at import; arithmetic uses a fixed seed of its own); the
planner helpers draw only from the ``rng`` they are given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from datagen.content import facts
from datagen.content.numbers import number_to_words, ordinal, replace_number_words, strip_digit_groups, year_to_words

__all__ = [
    "QAItem", "Topic", "question_bank", "topics", "pause_split", "related_interruption", "unrelated_question",
    "normalize_answer", "is_correct", "number_to_words", "year_to_words",
]


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


def _cap(s: str) -> str:
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
        first = _cap(firsts[i % len(firsts)].format(c=country, a=capital))
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
            first = _cap(firsts[i % len(firsts)].format(**fmt))
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
    from datagen.content.topic_table import TOPICS  # not "topics": the submodule would shadow topics()

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


# ------------------------------------------------------------------------------------------------------------------
# Planner helpers
# ------------------------------------------------------------------------------------------------------------------
FILLERS = ("um,", "uh,", "hmm,", "er,", "uh, um,")  # hesitations: resuming after a pause, or before one
LEAD_FILLERS = ("so, um,", "um,", "uh,", "okay, so,", "hmm, let me think,", "well,", "so,")  # before the question
PAUSE_FILLERS = tuple(dict.fromkeys(FILLERS + LEAD_FILLERS))
INTERRUPT_PREFIXES = ("wait,", "sorry,", "hold on,", "actually,", "oh,", "hang on,")
THIRD_PARTY_NAMES = ("Sam", "Alex", "Maria", "Tom", "Priya", "Chris", "Lena", "Omar", "Mum", "Dad", "honey")
FALLBACK_UNRELATED = (
    "do you know what time the shop closes today?",
    "have you seen my keys anywhere?",
    "what are we having for dinner tonight?",
    "did you remember to call the plumber?",
    "where did you put the remote control?",
    "are you coming to the meeting at four?",
    "is it going to rain this afternoon?",
    "can you pick up the kids from school today?",
    "who left the milk out of the fridge?",
    "did you book the tickets for Saturday?",
    "what was the name of that restaurant we went to?",
    "have you finished with the laptop?",
)
# Words after which a speaker naturally hesitates ("what is the capital of ... France?").
_SPLIT_AFTER = set("of in on at for to from by with the a an is are was were does did do many much between into "
                   "about called as that and".split())
_STOP = set("the a an and or but of to in on at for with is are was were be been it its this that there their they "
            "you your i we he she his her them as by from so if then than also very can will would could about "
            "which what who how when where why do does did not no yes just like more most some many much one "
            "that's it's there's into over only even well okay both each other others because every after before "
            "again all any here these those through too under until very really quite usually often always never "
            "although though still something anything thing things going gets make makes made says said know think "
            "take takes took come came want way good great little while same such should around".split())


def _pick(seq: Sequence[str], rng: np.random.Generator) -> str:
    return seq[int(rng.integers(len(seq)))]


def pause_split(question: str, rng: np.random.Generator) -> tuple[str, str]:
    """Split a question for an in-turn pause, e.g. ("What is the capital of", "um, France?"),
    ("so, um,", "What is the capital of France?") or ("How many legs does, uh,", "a spider have?").

    The words of ``question`` are kept in order and unchanged; fillers from :data:`PAUSE_FILLERS` may be added at
    the start of either part or at the end of the first part.  A one-word question comes back as (filler, question).
    """
    words = question.split()
    if len(words) < 2:
        return _pick(LEAD_FILLERS, rng), question
    mode = rng.random()
    if mode < 0.2:  # hesitate before starting: "so, um," ... "what is ..."
        return _pick(LEAD_FILLERS, rng), question
    n = len(words)
    natural = [k for k in range(1, n) if re.sub(r"[^\w']", "", words[k - 1]).lower() in _SPLIT_AFTER
               or words[k - 1].endswith(",")]
    if natural and mode < 0.8:
        weights = np.asarray(natural, dtype=float)  # later cuts (just before the key word) are more common
        k = int(rng.choice(natural, p=weights / weights.sum()))
    else:
        k = int(rng.integers(max(1, n // 3), n))
    first, second = " ".join(words[:k]), " ".join(words[k:])
    r = rng.random()
    if r < 0.4:
        second = f"{_pick(FILLERS, rng)} {second}"
    elif r < 0.6:
        first = f"{first} {_pick(FILLERS, rng)}"
    return first, second


def _content_word(spoken: str, rng: np.random.Generator) -> str | None:
    """A content word from the last few words heard, later words more likely (people react to what they just heard)."""
    words = [re.sub(r"^[^\w]+|[^\w]+$", "", w) for w in spoken.split()[-10:]]
    cands = [w for w in words if w and (w.isdigit() or (len(w) > 3 and w.lower() not in _STOP))]
    if not cands:
        return None
    weights = np.arange(1, len(cands) + 1, dtype=float)
    return cands[int(rng.choice(len(cands), p=weights / weights.sum()))]


def related_interruption(item: QAItem | None, spoken: str, rng: np.random.Generator) -> str:
    """A true, context-dependent barge-in: a follow-up question about what the assistant is saying right now.

    Uses ``item.followups`` (only those that do not give away the answer before it was heard), sometimes with a
    "wait," / "sorry," prefix; otherwise asks about a content word of ``spoken``.  Works with no item and with
    nothing spoken yet.
    """
    heard = " ".join(spoken.split())
    cands: list[str] = []
    if item is not None and item.followups:
        answer_heard = bool(heard) and is_correct(heard, item)
        cands = [f for f in item.followups if answer_heard or not is_correct(f, item)]
    if cands and rng.random() < 0.75:
        q = _pick(cands, rng)
        if not q.lower().startswith(tuple(p.rstrip(",") for p in INTERRUPT_PREFIXES)) and rng.random() < 0.6:
            q = f"{_pick(INTERRUPT_PREFIXES, rng)} {q}"
        return q
    prefix = _pick(INTERRUPT_PREFIXES, rng)
    word = _content_word(heard, rng)
    if word:
        shapes = (f"{prefix} what do you mean by {word}?", f"{prefix} did you say {word}?",
                  f"{prefix} can you tell me more about {word}?", f"{prefix} {word}? how do you know that?",
                  f"{prefix} {word}? what was that about?")
        return _pick(shapes, rng)
    generic = (f"{prefix} can you explain that again?", f"{prefix} what do you mean?",
               f"{prefix} can you say that more simply?", f"{prefix} how do you know that?")
    return _pick(generic, rng)


def unrelated_question(item: QAItem | None, rng: np.random.Generator, bank: Sequence[QAItem]) -> str:
    """A distractor: a third person asks someone else something unrelated (another category than ``item``).

    Mostly a bank question from a different category, sometimes an everyday household question; often addressed to
    a person by name ("Hey Sam, ...").  Works with no item and with an empty bank.
    """
    category = getattr(item, "category", None)
    pool = [b for b in bank if category is None or getattr(b, "category", None) != category]
    if pool and rng.random() < 0.75:
        q = pool[int(rng.integers(len(pool)))].question
    else:
        q = _pick(FALLBACK_UNRELATED, rng)
    q = " ".join(q.split())
    lower = q[:1].lower() + q[1:] if not q.startswith("I ") else q
    form = rng.random()
    name = _pick(THIRD_PARTY_NAMES, rng)
    if form < 0.4:
        return f"Hey {name}, {lower}"
    if form < 0.6:
        return f"{_cap(name)}, {lower}"
    return _cap(q)


# ------------------------------------------------------------------------------------------------------------------
# Scoring answers
# ------------------------------------------------------------------------------------------------------------------
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
