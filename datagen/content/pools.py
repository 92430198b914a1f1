"""The line pools one run draws from (:class:`Lexicon`): the built-in lexicon, replaced or extended by a team's
own files (the config's ``lexicons`` section, :func:`lexicon_spec`), each part cut to one side of a held-out split
(:mod:`datagen.splits`).  Kept apart from :mod:`datagen.content.lexicon`, whose upper-case names are all pools of
spoken lines (the ASR vocabulary and its test read them)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from datagen.content.lexicon import (
    ASSISTANT_BACKCHANNELS,
    BACKGROUND_SPEECH,
    INTERRUPTIONS_INDEPENDENT,
    LONG_USER_TURNS,
    TALKING_TO_OTHERS,
    USER_BACKCHANNELS,
    LongTurn,
)
from datagen.content.phrasing import FALLBACK_UNRELATED


@dataclass(frozen=True)
class Lexicon:
    """The line pools one run draws from.  Attribute names are :mod:`datagen.content.lexicon`'s constants, so a
    planner reads ``ctx.lexicon.USER_BACKCHANNELS`` whether the pools are the built-in ones, a team's or a split."""

    INTERRUPTIONS_INDEPENDENT: tuple[str, ...] = INTERRUPTIONS_INDEPENDENT
    USER_BACKCHANNELS: tuple[str, ...] = USER_BACKCHANNELS
    ASSISTANT_BACKCHANNELS: tuple[str, ...] = ASSISTANT_BACKCHANNELS
    TALKING_TO_OTHERS: tuple[str, ...] = TALKING_TO_OTHERS
    BACKGROUND_SPEECH: tuple[str, ...] = BACKGROUND_SPEECH
    FALLBACK_UNRELATED: tuple[str, ...] = FALLBACK_UNRELATED  # everyday questions a third person asks (distractors)
    LONG_USER_TURNS: tuple[LongTurn, ...] = LONG_USER_TURNS

    def sizes(self) -> dict[str, int]:
        """Pool sizes by their config name (for stats.json)."""
        return {name: len(getattr(self, attr)) for name, attr in LEXICON_NAMES.items()}


# The config's names for the pools (``lexicons: {interruptions: ...}``) and the Lexicon attribute each one sets.
LEXICON_NAMES: dict[str, str] = {
    "interruptions": "INTERRUPTIONS_INDEPENDENT",
    "user_backchannels": "USER_BACKCHANNELS",
    "assistant_backchannels": "ASSISTANT_BACKCHANNELS",
    "talking_to_others": "TALKING_TO_OTHERS",
    "background_speech": "BACKGROUND_SPEECH",
    "unrelated_questions": "FALLBACK_UNRELATED",
    "long_turns": "LONG_USER_TURNS",
}
assert set(LEXICON_NAMES.values()) == {f.name for f in fields(Lexicon)}
LEXICON_MODES: tuple[str, ...] = ("replace", "extend")
_ENTRY_KEYS = ("file", "mode", "split")


def lexicon_spec(section: Any) -> dict[str, dict[str, Any]]:
    """The ``lexicons`` config section, checked and spelled out: ``{name: {file, mode, split}}``.

    ``name: my.txt`` is short for ``name: {file: my.txt}``; ``mode`` is ``replace`` (default) or ``extend``;
    ``split`` (default true) cuts the file's lines by ``--split`` like the built-in ones; false keeps them whole
    (lines a team holds out of every split).  Errors are one-line ConfigErrors naming the key.
    """
    from datagen.common.config import ConfigError

    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"lexicons: expected a mapping of lexicon name to {{file, mode, split}}, got {section!r}")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in section.items():
        where = f"lexicons.{name}"
        if name not in LEXICON_NAMES:
            raise ConfigError(f"lexicons: unknown lexicon {name!r} (known: {', '.join(LEXICON_NAMES)})")
        entry = {"file": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a file name or a mapping {{file, mode, split}}, got {entry!r}")
        unknown = sorted(set(entry) - set(_ENTRY_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_ENTRY_KEYS)})")
        file, mode, split = entry.get("file"), entry.get("mode", "replace"), entry.get("split", True)
        if not isinstance(file, str) or not file.strip():
            raise ConfigError(f"{where}.file: expected the path of a .txt or .jsonl file, got {file!r}")
        if mode not in LEXICON_MODES:
            raise ConfigError(f"{where}.mode: expected one of {', '.join(LEXICON_MODES)}, got {mode!r}")
        if not isinstance(split, bool):
            raise ConfigError(f"{where}.split: expected true or false, got {split!r}")
        out[str(name)] = {"file": file, "mode": mode, "split": split}
    return out


def build_lexicon(spec: Mapping[str, Mapping[str, Any]] | None = None, split: str | None = None) -> Lexicon:
    """The pools of a run: built-in lines replaced or extended by the files of ``spec`` (from
    :func:`lexicon_spec`), then each part cut to ``split`` (files with ``split: false`` stay whole)."""
    from datagen.content import loaders
    from datagen.splits import normalize_line, select

    def key(item: Any) -> str:
        return normalize_line(" ".join(item.clauses) if isinstance(item, LongTurn) else item)

    pools: dict[str, Any] = {}
    for name, attr in LEXICON_NAMES.items():
        entry = (spec or {}).get(name)
        builtin: list[Any] = [] if entry and entry["mode"] == "replace" else list(getattr(Lexicon, attr))
        lines = select(builtin, split, "line", f"lexicons.{name} (built-in)", key)
        if entry:
            read = loaders.load_long_turns if name == "long_turns" else loaders.load_lexicon_lines
            own = read(entry["file"], f"lexicons.{name}")
            lines += select(own, split if entry["split"] else None, "line", f"lexicons.{name}", key)
        first: dict[str, Any] = {}
        for x in lines:  # a line in the built-in pool and in the file is drawn as often as any other
            first.setdefault(key(x), x)
        pools[attr] = tuple(first.values())
    return Lexicon(**pools)
