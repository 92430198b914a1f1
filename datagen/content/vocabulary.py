"""Every text the benchmark speaks, in one list: what a constrained ASR (pocketsphinx's language model and
dictionary) is told to expect.  It lives here, beside the texts, so a new pool of lines is added in one place."""

from __future__ import annotations

from datagen.content import lexicon
from datagen.content.bank import CLOSINGS, NEUTRAL, question_bank
from datagen.content.phrasing import FALLBACK_UNRELATED, INTERRUPT_PREFIXES, PAUSE_FILLERS, THIRD_PARTY_NAMES


def spoken_texts() -> list[str]:
    """Bank questions, answers, aliases, responses and follow-ups (item by item); the lexicon's lines; the
    planners' fillers, prefixes, names and fallback questions; the bank's closing and neutral sentences.

    The order is part of the contract (a language model built from it is cached by its text): the lexicon pools
    come in alphabetical order of their names, as the benchmark's ASR always listed them.
    """
    texts: list[str] = []
    for item in question_bank():
        texts += [item.question, item.answer, *item.aliases, item.response, *item.followups]
    for lines in (
        lexicon.ASSISTANT_BACKCHANNELS,
        lexicon.BACKGROUND_SPEECH,
        lexicon.INTERRUPTIONS_INDEPENDENT,
        lexicon.TALKING_TO_OTHERS,
        lexicon.USER_BACKCHANNELS,
        PAUSE_FILLERS,
        INTERRUPT_PREFIXES,
        THIRD_PARTY_NAMES,
        FALLBACK_UNRELATED,
        CLOSINGS,
        NEUTRAL,
    ):
        texts += list(lines)
    return texts
