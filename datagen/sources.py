"""Turn the configured text sources into exchanges for the planners.

``sources`` in the config may name the built-in bank (``builtin: true``), user JSONL dialogues
(``jsonl: path``) and a local Hugging Face QA dataset (``hf: {path: ..., question_field: ..., answer_field: ...}``).
Broken user items are skipped and counted (they end up in ``stats.json`` under ``skipped``), never fatal.
With a held-out split (:mod:`datagen.splits`) every pool is cut to one side: QA items by their question, topics
by their name, user dialogues by their id; long turns come from the run's lexicon, already cut.  Follow-up lines
that many items share are cut as lines (:func:`datagen.splits.cut_shared_lines`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from datagen.scenarios import ExchangeSource
from datagen.splits import cut_shared_lines, normalize_line, select
from datagen.timeline import Exchange


def _from_item(item: Any) -> Exchange:
    return Exchange(question=item.question, response=item.response, item=item)


def _question(item: Any) -> str:
    return normalize_line(item.question)


def exchange_source(spec: Mapping[str, Any], lexicon: Any = None, split: str | None = None,
                    own_long_turns: bool = False) -> tuple[ExchangeSource, dict[str, Any]]:
    """Build the exchange pools, cut to ``split``; returns the source and the skipped-item report.

    Long turns come from ``lexicon`` (a :class:`datagen.content.pools.Lexicon`, the built-in one by default)
    with the built-in bank, or whenever the team gave its own (``own_long_turns``)."""
    from datagen import content
    from datagen.content import loaders
    from datagen.content.pools import Lexicon

    lexicon = lexicon or Lexicon()
    items: list[Exchange] = []
    sessions: list[list[Exchange]] = []
    long_turns: list[Exchange] = []
    skipped: dict[str, Any] = {}
    if spec.get("builtin", True):
        all_items, all_topics = content.question_bank(), content.topics()
        # shared follow-ups are cut over the whole pool (bank and topics), so the cut does not depend on the split
        cut = iter(cut_shared_lines([it.followups for it in (*all_items, *(i for t in all_topics for i in t.items))],
                                    split))
        all_items = [replace(it, followups=next(cut)) for it in all_items]
        all_topics = [(t.name, [replace(it, followups=next(cut)) for it in t.items]) for t in all_topics]
        items += [_from_item(it) for it in select(all_items, split, "qa", "qa_items", _question)]
        sessions += [[_from_item(it) for it in its]
                     for _, its in select(all_topics, split, "topic", "topics", lambda t: t[0])]
    if spec.get("builtin", True) or own_long_turns:
        long_turns += [
            Exchange(question=" ".join(lt.clauses), response=lt.response, clauses=tuple(lt.clauses))
            for lt in lexicon.LONG_USER_TURNS
        ]
    if spec.get("jsonl"):
        dialogues, bad = loaders.load_jsonl_dialogues(spec["jsonl"])
        skipped["jsonl"] = {"count": len(bad), "reasons": bad[:20]}
        for dlg in select(dialogues, split, "dialogue", "sources.jsonl", lambda d: d.id):
            pairs = [
                Exchange(question=q, response=a)
                for (s1, q), (s2, a) in zip(dlg.turns, dlg.turns[1:])
                if s1 == "user" and s2 == "assistant"
            ]
            if pairs:
                sessions.append(pairs)
                items.extend(pairs)
    if spec.get("hf"):
        hf = dict(spec["hf"]) if isinstance(spec["hf"], Mapping) else {"path": spec["hf"]}
        items += [_from_item(it) for it in select(loaders.load_hf_qa(**hf), split, "qa", "sources.hf", _question)]
    if not items:
        raise ValueError("sources: no usable exchanges (enable builtin or give a jsonl/hf source with valid items)")
    return ExchangeSource(items=items, sessions=sessions, long_turns=long_turns), skipped
