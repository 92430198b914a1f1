"""Spoken content: what users ask, how they phrase it, and how an answer is scored.  One job per module:

* :mod:`~datagen.content.bank`: the built-in question bank (:class:`QAItem`, :func:`question_bank`) and the
  multi-turn :func:`topics`; deterministic, stable ids like ``capitals-0007``.
* :mod:`~datagen.content.phrasing`: the planners' helpers (:func:`pause_split`, :func:`related_interruption`,
  :func:`related_followup` (with its cue),
  :func:`unrelated_question`) and their fillers, prefixes and names; they draw only from the ``rng`` given.
* :mod:`~datagen.content.scoring`: :func:`normalize_answer` and :func:`is_correct`.
* :mod:`~datagen.content.vocabulary`: :func:`spoken_texts`, every text the benchmark speaks (for ASR).
* :mod:`~datagen.content.lexicon`: backchannels, interruptions, talk to others, long user turns.
* :mod:`~datagen.content.pools`: the pools one run draws from (:class:`Lexicon`): the lexicon, a team's own
  files (the config's ``lexicons`` section), one side of a held-out split.
* :mod:`~datagen.content.numbers`: numbers as spoken words and back.
* :mod:`~datagen.content.facts`, :mod:`~datagen.content.topic_table`: the data the bank is built from.
* :mod:`~datagen.content.loaders`, :mod:`~datagen.content.llm_writer`: user JSONL / Hugging Face sources and
  offline LLM-written dialogues.

The names below are re-exported so ``from datagen.content import question_bank, is_correct, ...`` works.
"""

from __future__ import annotations

from datagen.content.bank import CLOSINGS, NEUTRAL, QAItem, Topic, question_bank, topics
from datagen.content.numbers import number_to_words, year_to_words
from datagen.content.phrasing import (
    FALLBACK_UNRELATED,
    FILLERS,
    INTERRUPT_PREFIXES,
    LEAD_FILLERS,
    PAUSE_FILLERS,
    THIRD_PARTY_NAMES,
    FollowUp,
    pause_split,
    related_followup,
    related_interruption,
    unrelated_question,
)
from datagen.content.scoring import is_correct, normalize_answer
from datagen.content.vocabulary import spoken_texts

__all__ = [
    "QAItem", "Topic", "question_bank", "topics", "pause_split", "related_interruption", "unrelated_question",
    "FollowUp", "related_followup",
    "normalize_answer", "is_correct", "number_to_words", "year_to_words", "spoken_texts",
    "FILLERS", "LEAD_FILLERS", "PAUSE_FILLERS", "INTERRUPT_PREFIXES", "THIRD_PARTY_NAMES", "FALLBACK_UNRELATED",
    "CLOSINGS", "NEUTRAL",
]
