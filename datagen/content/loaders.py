"""User content: scripted dialogues from JSONL and QA pairs from a local Hugging Face dataset.

Broken user items are skipped with a one-line reason each (the generator counts them in ``stats.json``); only a
missing or unreadable source, or a missing field, stops the run, with one line naming the path or field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.content import QAItem

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
        turns = [(t["speaker"], " ".join(str(t["text"]).split())) for t in rec["turns"]]
        dialogues.append(ScriptedDialogue(str(rec.get("id", f"line{lineno}")), turns))
    return dialogues, bad


def _check_dialogue(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return "expected an object"
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
    if isinstance(value, dict) and "text" in value:  # SQuAD style {"text": [...], "answer_start": [...]}
        value = value["text"]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value).strip()] if value is not None and str(value).strip() else []


def load_hf_qa(
    path: str,
    question_field: str = "question",
    answer_field: str = "answer",
    aliases_field: str | None = None,
    response_field: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    category: str = "hf",
) -> list[QAItem]:
    """QA items from a LOCAL dataset: a ``save_to_disk`` directory, or json/jsonl/csv/parquet files. Never downloads."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets

    p = Path(path)
    if not p.exists():
        raise ValueError(f"sources.hf.path: {path} does not exist (only local datasets are read)")
    try:
        if p.is_dir() and ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists()):
            ds = datasets.load_from_disk(str(p))
        else:
            files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.suffix in (".json", ".jsonl", ".csv", ".parquet"))
            if not files:
                raise ValueError("no json/jsonl/csv/parquet files")
            kind = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}[files[0].suffix]
            ds = datasets.load_dataset(kind, data_files=[str(f) for f in files])
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"sources.hf.path: {path}: cannot load dataset ({str(exc).splitlines()[0]})") from None
    if isinstance(ds, datasets.DatasetDict):
        name = split or ("train" if "train" in ds else sorted(ds)[0])
        if name not in ds:
            raise ValueError(f"sources.hf.split: {path} has no split {name!r} (has: {', '.join(ds)})")
        ds = ds[name]
    for field in (question_field, answer_field, aliases_field, response_field):
        if field and field not in ds.column_names:
            raise ValueError(f"sources.hf: {path} has no field {field!r} (fields: {', '.join(ds.column_names)})")
    items: list[QAItem] = []
    for i, row in enumerate(ds):
        if limit is not None and len(items) >= limit:
            break
        q = str(row[question_field] or "").strip()
        answers = _answers(row[answer_field])
        if not q or not answers:
            continue
        aliases = tuple(answers[1:]) + (tuple(_answers(row[aliases_field])) if aliases_field else ())
        response = str(row[response_field]).strip() if response_field and row[response_field] else ""
        if not response:
            response = (
                f"The answer is {answers[0]}. That is what my sources say, and I am fairly confident about it. "
                "Let me know if you would like me to explain how we get there or to go into more detail."
            )
        items.append(QAItem(f"{category}-{i:06d}", category, q, answers[0], aliases, response))
    return items
