"""Held-out splits: ``generate --split train|val|test`` draws every pool of content, voices and rooms from one side
of a fixed partition, so a test corpus shares no line, QA item, topic, voice or room with a train corpus, and a
validation corpus shares none with either (where the pool is big enough, see 4 below).

Why a ``val`` side and not another seed of the train split: a seed of the train split repeats the train corpus's
phrasings (9 of the 11 context-independent interruption lines of such a corpus also occurred in train), so choosing
checkpoints and decision offsets on it rewards memorised lines, while the test split asks for unseen ones.

Why a hash and not a permutation of the run's seed: the side of an item must not depend on the run (a train
corpus of seed 0 and a test corpus of seed 5 never share anything), nor on which other items a pool holds (a
line a team adds to a lexicon must not move the built-in lines from one side to the other).

The rule, for an item of a ``kind`` (``line``, ``qa``, ``topic``, ``dialogue``, ``voice``, ``room``) with a ``key``
(a line's text, casefolded with its spaces collapsed; a question's text; a topic's name; a voice's name; a room's
index in the bank):

1. ``u = int(sha256(f"duplexkit-split-v1|{kind}|{key}")[:8]) / 2**64``, a number in [0, 1);
2. the item is in ``test`` when ``u < TEST_FRACTION`` (0.25), else on the train side;
3. a pool of two or more items always has both sides: if the rule leaves one empty, the item with the smallest
   ``u`` goes to ``test`` (or the one with the largest ``u`` to the train side).  A pool of one item cannot be
   split (:class:`SplitError`);
4. the train side is cut again: an item with ``u < VAL_CUT`` (0.50) is in ``val``, the rest in ``train`` (with the
   same repair as in 3, so a train side of two or more items gives both non-empty).  A train side of one item is
   shared by ``train`` and ``val`` (only a tiny pool, such as a 2-room test bank, hits this).

Step 4 came after 1-3 (``duplexkit-split-v1``) and left them alone: the test side of every pool is what it was, so
old test corpora stay held out from new train corpora.  The train side of v1 is now ``train`` + ``val``.

Lines are one kind whatever their pool, so a text in two pools (``"mm-hmm"`` is a user and an assistant
backchannel) lies on the same side in both.  No split (``None``) keeps every pool whole, exactly as before.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence, TypeVar

from datagen.common.config import ConfigError

SPLITS: tuple[str, ...] = ("train", "val", "test")
TEST_FRACTION = 0.25
VAL_CUT = 0.50
RULE_VERSION = "duplexkit-split-v1"

T = TypeVar("T")


class SplitError(ConfigError):
    """A pool that cannot be split (fewer than two items) or an unknown split name; one line naming the pool."""


def check_split(split: str | None) -> str | None:
    if split is not None and split not in SPLITS:
        raise SplitError(f"split: expected one of {', '.join(SPLITS)} (or none), got {split!r}")
    return split


def normalize_line(text: str) -> str:
    """A line's identity: case and spacing do not make a new line (``"Wait,  stop"`` is ``"wait, stop"``)."""
    return " ".join(str(text).split()).casefold()


def unit(kind: str, key: str) -> float:
    """The item's fixed position in [0, 1): the first 8 bytes of a salted sha256, as a fraction of 2**64."""
    digest = hashlib.sha256(f"{RULE_VERSION}|{kind}|{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _cut(us: Sequence[float], idx: list[int], cut: float) -> tuple[list[int], list[int]]:
    """``idx`` split into (u < cut, the rest), both non-empty when ``idx`` has two or more items."""
    low = [i for i in idx if us[i] < cut]
    high = [i for i in idx if us[i] >= cut]
    if len(idx) >= 2 and not low:
        low = [min(high, key=us.__getitem__)]
        high.remove(low[0])
    elif len(idx) >= 2 and not high:
        high = [max(low, key=us.__getitem__)]
        low.remove(high[0])
    return low, high


def partition(items: Sequence[T], kind: str, key: Callable[[T], str] = str) -> dict[str, list[T]]:
    """``{"train": [...], "val": [...], "test": [...]}`` of ``items`` (order kept) by the rule above."""
    us = [unit(kind, key(it)) for it in items]
    test, rest = _cut(us, list(range(len(items))), TEST_FRACTION)
    val, train = _cut(us, rest, VAL_CUT)
    if len(rest) == 1:
        val = train = rest
    sides = {"train": set(train), "val": set(val), "test": set(test)}
    return {s: [it for i, it in enumerate(items) if i in sides[s]] for s in SPLITS}


def select(items: Sequence[T], split: str | None, kind: str, pool: str, key: Callable[[T], str] = str) -> list[T]:
    """The items of ``split`` (all of them when ``split`` is None); ``pool`` names the pool in errors."""
    if check_split(split) is None or not items:
        return list(items)
    if len(items) < 2:
        raise SplitError(f"{pool}: a split needs at least 2 items to keep train and test apart, got {len(items)}")
    return partition(items, kind, key)[split]


def select_lines(lines: Sequence[str], split: str | None, pool: str) -> tuple[str, ...]:
    """Lexicon lines of ``split``, keyed by their normalised text."""
    return tuple(select(lines, split, "line", pool, normalize_line))


def cut_shared_lines(groups: Sequence[Sequence[str]], split: str | None) -> list[tuple[str, ...]]:
    """Each group's lines, less the shared ones (a line in two or more groups) that lie on another side than ``split``.

    Why: QA items are split by their question, but their follow-ups (the context-dependent barge-ins) are partly
    templates every item of a category carries ("hold on, how did you get that?"), so a test item would repeat
    phrasings train items taught.  Shared lines are split as a pool of lines; a line only its own item has goes
    where the item goes.  ``groups`` must be the whole pool (not one side), so the cut does not depend on the split.
    """
    if check_split(split) is None:
        return [tuple(g) for g in groups]
    seen: dict[str, int] = {}
    for g in groups:
        for key in {normalize_line(x) for x in g}:
            seen[key] = seen.get(key, 0) + 1
    shared = [k for k, n in seen.items() if n > 1]
    other = set(shared) - set(partition(shared, "line")[split]) if len(shared) >= 2 else set()
    return [tuple(x for x in g if normalize_line(x) not in other) for g in groups]
