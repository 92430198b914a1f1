"""User content: scripted dialogues from JSONL, QA pairs from a local Hugging Face dataset, and a team's own
lexicon lines (the config's ``lexicons`` section) from text or JSONL files.

Broken user items are skipped with a one-line reason each (the generator counts them in ``stats.json``); only a
missing or unreadable source, or a missing field, stops the run, with one line naming the path or field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.common.config import ConfigError
from datagen.content.bank import QAItem

SPEAKERS = ("user", "assistant")


@dataclass
class ScriptedDialogue:
    id: str
    turns: list[tuple[str, str]]  # (speaker, text)


def load_jsonl_dialogues(path: str | Path) -> tuple[list[ScriptedDialogue], list[str]]:
    """``{"id": ..., "turns": [{"speaker": "user"|"assistant", "text": ...}, ...]}`` per line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    dialogues: list[ScriptedDialogue] = []
    bad: list[str] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            bad.append(f"line {lineno}: not JSON ({exc.msg})")
            continue
        reason = _check_dialogue(rec)
        if reason:
            bad.append(f"line {lineno}: {reason}")
            continue
        did = str(rec["id"]).strip()
        if did in seen:
            bad.append(f"line {lineno}: duplicate id {did!r}")
            continue
        seen.add(did)
        turns = [(t["speaker"], " ".join(str(t["text"]).split())) for t in rec["turns"]]
        dialogues.append(ScriptedDialogue(did, turns))
    return dialogues, bad


def _check_dialogue(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return "expected an object"
    if not isinstance(rec.get("id"), (str, int)) or isinstance(rec.get("id"), bool) or not str(rec["id"]).strip():
        return "missing or empty 'id'"
    turns = rec.get("turns")
    if not isinstance(turns, list) or not turns:
        return "missing or empty 'turns'"
    for i, t in enumerate(turns):
        if not isinstance(t, dict):
            return f"turns[{i}]: expected an object"
        if t.get("speaker") not in SPEAKERS:
            return f"turns[{i}]: unknown speaker {t.get('speaker')!r} (use user or assistant)"
        if not isinstance(t.get("text"), str) or not t["text"].strip():
            return f"turns[{i}]: missing or empty 'text'"
    return None


def _answers(value: Any) -> list[str]:
    """An answer cell as a list of strings: a string, a number, a list, or SQuAD style ``{"text": [...]}``."""
    if isinstance(value, dict):
        value = value.get("text", [])
    if isinstance(value, (list, tuple)):
        return [" ".join(str(v).split()) for v in value if v is not None and str(v).strip()]
    return [" ".join(str(value).split())] if value is not None and str(value).strip() else []


# Templates for a missing response: the answer first, then a few seconds of honest, general elaboration.
_RESPONSES = (
    "The answer is {a}. That is the answer given in the source I am drawing on, and I am fairly confident about it. "
    "Let me know if you would like me to explain how we get there, or to go into a little more detail.",
    "It is {a}. I can say a bit more about the background if that would help, and I am happy to explain any part "
    "of it in more detail. Just ask if you want the longer version.",
    "{A} is the answer. If you would like, I can go through the reasoning behind it, or talk about anything "
    "related to it. Just let me know what would be most useful to you.",
)


def default_response(answer: str, index: int = 0) -> str:
    """An answer-first response for a QA pair that came without one."""
    template = _RESPONSES[index % len(_RESPONSES)]
    return template.format(a=answer, A=answer[:1].upper() + answer[1:])


_DATA_KINDS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def _load_local(p: Path, split: str | None):
    import datasets

    if p.is_dir() and ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists()
                       or (p / "state.json").exists()):
        ds = datasets.load_from_disk(str(p))
    else:
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.suffix in _DATA_KINDS and x.is_file())
        if not files:
            raise LookupError("no save_to_disk dataset and no json/jsonl/csv/parquet files")
        kinds = {_DATA_KINDS.get(f.suffix) for f in files}
        if None in kinds or len(kinds) != 1:
            raise LookupError(f"cannot read {'mixed' if len(kinds) > 1 else 'these'} data files (use json, jsonl, csv or parquet)")
        ds = datasets.load_dataset(kinds.pop(), data_files=[str(f) for f in files])
    if isinstance(ds, datasets.DatasetDict):
        name = split or ("train" if "train" in ds else sorted(ds)[0])
        if name not in ds:
            raise KeyError(f"split {name!r} not found (has: {', '.join(ds)})")
        ds = ds[name]
    return ds


def load_hf_qa(
    path: str | Path,
    question_field: str = "question",
    answer_field: str = "answer",
    aliases_field: str | None = None,
    response_field: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    category: str = "hf",
) -> list[QAItem]:
    """QA items from a LOCAL dataset: a ``save_to_disk`` directory, or json/jsonl/csv/parquet files (a file or a
    directory of them).  Never downloads.  Answers may be a string, a list (first = answer, rest = aliases) or
    SQuAD style ``{"text": [...]}``; rows without a question or an answer are skipped.  Without a response field,
    an answer-first response is built from a template."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    p = Path(path)
    if not p.exists():
        raise ValueError(f"sources.hf.path: {path} does not exist (only local datasets are read)")
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise ValueError(f"sources.hf.path: {path}: reading it needs the datasets package (pip install datasets)") from None
    try:
        ds = _load_local(p, split)
    except KeyError as exc:
        raise ValueError(f"sources.hf.split: {path}: {exc.args[0]}") from None
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one line naming the path
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"sources.hf.path: {path}: cannot load dataset ({msg})") from None
    for field in (question_field, answer_field, aliases_field, response_field):
        if field and field not in ds.column_names:
            raise ValueError(f"sources.hf: {path} has no field {field!r} (fields: {', '.join(ds.column_names)})")
    items: list[QAItem] = []
    for i, row in enumerate(ds):
        if limit is not None and len(items) >= limit:
            break
        q = " ".join(str(row[question_field] or "").split())
        answers = _answers(row[answer_field])
        if not q or not answers:
            continue
        aliases = tuple(answers[1:]) + (tuple(_answers(row[aliases_field])) if aliases_field else ())
        aliases = tuple(dict.fromkeys(a for a in aliases if a != answers[0]))
        response = " ".join(str(row[response_field] or "").split()) if response_field else ""
        if not response:
            response = default_response(answers[0], i)
        items.append(QAItem(f"{category}-{i:06d}", category, q, answers[0], aliases, response))
    return items


# ------------------------------------------------------------------------------------------------------------------
# Lexicon files: unlike dialogue sources, a bad line is an error (a lexicon is short and written by hand)
# ------------------------------------------------------------------------------------------------------------------
def _lexicon_records(path: str | Path, where: str) -> list[tuple[int, Any]]:
    """(line number, text or parsed JSON) of a ``.txt`` (blank lines and ``#`` comments skipped) or ``.jsonl``
    (blank lines skipped) file; ConfigError naming ``where`` and the file otherwise."""
    p = Path(path)
    if p.suffix not in (".txt", ".jsonl"):
        raise ConfigError(f"{where}.file: {p}: expected a .txt or .jsonl file")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}.file: {p}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    out: list[tuple[int, Any]] = []
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text or (p.suffix == ".txt" and text.startswith("#")):
            continue
        if p.suffix == ".txt":
            out.append((lineno, " ".join(text.split())))
            continue
        try:
            out.append((lineno, json.loads(text)))
        except ValueError as exc:
            raise ConfigError(f"{where}.file: {p}:{lineno}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not out:
        raise ConfigError(f"{where}.file: {p}: has no lines")
    return out


def _text(value: Any) -> str | None:
    """A string with its spaces collapsed, or None for anything else and for blank strings."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def load_lexicon_lines(path: str | Path, where: str) -> list[str]:
    """Spoken lines, one per line of a ``.txt`` file or ``{"text": ...}`` per line of a ``.jsonl`` file."""
    lines: list[str] = []
    for lineno, rec in _lexicon_records(path, where):
        text = rec if isinstance(rec, str) else _text(rec.get("text")) if isinstance(rec, dict) else None
        if not text:
            raise ConfigError(f'{where}.file: {path}:{lineno}: expected {{"text": "a non-empty line"}}')
        lines.append(text)
    return lines


def load_long_turns(path: str | Path, where: str) -> list[Any]:
    """Long user turns from a ``.jsonl`` file: ``{"clauses": [...], "response": ...}``, or ``{"text": ...,
    "response": ...}`` cut into clauses after its commas; at least two clauses (the gaps are what matters)."""
    from datagen.content.lexicon import LongTurn

    if Path(path).suffix != ".jsonl":
        raise ConfigError(f'{where}.file: {path}: long turns need a .jsonl file ({{"text" or "clauses", "response"}})')
    turns: list[Any] = []
    for lineno, rec in _lexicon_records(path, where):
        at = f"{where}.file: {path}:{lineno}"
        if not isinstance(rec, dict):
            raise ConfigError(f"{at}: expected an object with clauses (or text) and response")
        clauses = rec.get("clauses")
        if clauses is None and _text(rec.get("text")):
            clauses = [c + "," for c in _text(rec["text"]).split(", ")]
            clauses[-1] = clauses[-1][:-1]
        if not isinstance(clauses, list) or not all(_text(c) for c in clauses) or len(clauses) < 2:
            raise ConfigError(f"{at}: a long turn needs at least 2 clauses (a 'clauses' list or a 'text' with commas)")
        response = _text(rec.get("response"))
        if not response:
            raise ConfigError(f"{at}: expected a non-empty 'response'")
        turns.append(LongTurn(tuple(_text(c) for c in clauses), response))
    return turns
