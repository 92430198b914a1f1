"""Phrasing for the planners: in-turn pauses, related follow-ups (true interruptions) and unrelated questions
(distractors), built around a bank item.  Every helper draws only from the ``rng`` it is given."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from datagen.content.bank import QAItem, capitalize_first
from datagen.content.scoring import is_correct

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


@dataclass(frozen=True)
class FollowUp:
    """A related follow-up and its cue: the first ``cue_words`` words are what a listener must hear to know it is
    related (see the decision rule in :mod:`datagen.distributions`)."""

    text: str
    cue_words: int


def _words_key(word: str) -> str:
    return re.sub(r"^[^\w]+|[^\w]+$", "", word).lower()


def _is_content(word: str) -> bool:
    return bool(word) and (word.isdigit() or (len(word) > 3 and word not in _STOP))


def _cue_words(q: str, keys: set[str]) -> int:
    """Words of ``q`` up to its first content word in ``keys`` (past a "wait,"-style prefix); all when none is."""
    words = [_words_key(w) for w in q.split()]
    start = next((len(p.split()) for p in INTERRUPT_PREFIXES if q.lower().startswith(p)), 0)
    hit = next((i for i in range(start, len(words)) if _is_content(words[i]) and words[i] in keys), None)
    return len(words) if hit is None else hit + 1


def related_interruption(item: QAItem | None, spoken: str, rng: np.random.Generator) -> str:
    """The text of :func:`related_followup` (same draws)."""
    return related_followup(item, spoken, rng).text


def related_followup(item: QAItem | None, spoken: str, rng: np.random.Generator) -> FollowUp:
    """A true, context-dependent barge-in: a follow-up question about what the assistant is saying right now.

    Uses ``item.followups`` (only those that do not give away the answer before it was heard), sometimes with a
    "wait," / "sorry," prefix; otherwise asks about a content word of ``spoken``.  Works with no item and with
    nothing spoken yet.  The cue ends at the first content word shared with what was heard or with the item (a
    borrowed word), else with the question (its relation is only in its meaning).
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
        context = " ".join([heard, item.question, item.answer, *item.aliases]) if item is not None else heard
        return FollowUp(q, _cue_words(q, {_words_key(w) for w in context.split()}))
    prefix = _pick(INTERRUPT_PREFIXES, rng)
    word = _content_word(heard, rng)
    if word:
        shapes = (f"{prefix} what do you mean by {word}?", f"{prefix} did you say {word}?",
                  f"{prefix} can you tell me more about {word}?", f"{prefix} {word}? how do you know that?",
                  f"{prefix} {word}? what was that about?")
        q = _pick(shapes, rng)
        return FollowUp(q, _cue_words(q, {word.lower()}))
    generic = (f"{prefix} can you explain that again?", f"{prefix} what do you mean?",
               f"{prefix} can you say that more simply?", f"{prefix} how do you know that?")
    q = _pick(generic, rng)
    return FollowUp(q, len(q.split()))


def unrelated_question(item: QAItem | None, rng: np.random.Generator, bank: Sequence[QAItem],
                       fallback: Sequence[str] = FALLBACK_UNRELATED) -> str:
    """A distractor: a third person asks someone else something unrelated (another category than ``item``).

    Mostly a bank question from a different category, sometimes an everyday household question from ``fallback``
    (the run's pool: a split or a team's lines); often addressed to a person by name ("Hey Sam, ...").  Works with
    no item and with an empty bank.
    """
    category = getattr(item, "category", None)
    pool = [b for b in bank if category is None or getattr(b, "category", None) != category]
    if pool and rng.random() < 0.75:
        q = pool[int(rng.integers(len(pool)))].question
    else:
        q = _pick(fallback, rng)
    q = " ".join(q.split())
    lower = q[:1].lower() + q[1:] if not q.startswith("I ") else q
    form = rng.random()
    name = _pick(THIRD_PARTY_NAMES, rng)
    if form < 0.4:
        return f"Hey {name}, {lower}"
    if form < 0.6:
        return f"{capitalize_first(name)}, {lower}"
    return capitalize_first(q)
