"""Turn the configured text sources into exchanges for the planners.

``sources`` in the config may name the built-in bank (``builtin: true``), user JSONL dialogues
(``jsonl: path``) and a local Hugging Face QA dataset (``hf: {path: ..., question_field: ..., answer_field: ...}``).
Broken user items are skipped and counted (they end up in ``stats.json`` under ``skipped``), never fatal.
"""

from __future__ import annotations

from typing import Any, Mapping

from datagen.scenarios import ExchangeSource
from datagen.timeline import Exchange


def _from_item(item: Any) -> Exchange:
    return Exchange(question=item.question, response=item.response, item=item)


def exchange_source(spec: Mapping[str, Any]) -> tuple[ExchangeSource, dict[str, Any]]:
    """Build the exchange pools; returns the source and the skipped-item report."""
    from datagen import content
    from datagen.content import lexicon, loaders

    items: list[Exchange] = []
    sessions: list[list[Exchange]] = []
    long_turns: list[Exchange] = []
    skipped: dict[str, Any] = {}
    if spec.get("builtin", True):
        items += [_from_item(it) for it in content.question_bank()]
        sessions += [[_from_item(it) for it in topic.items] for topic in content.topics()]
        long_turns += [
            Exchange(question=" ".join(lt.clauses), response=lt.response, clauses=tuple(lt.clauses))
            for lt in lexicon.LONG_USER_TURNS
        ]
    if spec.get("jsonl"):
        dialogues, bad = loaders.load_jsonl_dialogues(spec["jsonl"])
        skipped["jsonl"] = {"count": len(bad), "reasons": bad[:20]}
        for dlg in dialogues:
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
        items += [_from_item(it) for it in loaders.load_hf_qa(**hf)]
    if not items:
        raise ValueError("sources: no usable exchanges (enable builtin or give a jsonl/hf source with valid items)")
    return ExchangeSource(items=items, sessions=sessions, long_turns=long_turns), skipped
