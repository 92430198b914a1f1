"""One preference pair, its parquet row, and the pair-set directory reader.

A pair is a window of one dialogue (static pairs) or of one benchmark item (on-policy pairs), in whole 80 ms blocks:

* blocks ``[0, divergence]`` are the **shared prefix**: both branches hear the same mic and play the same assistant
  block there, and ``prefix_tokens`` are the tokens of steps ``0 .. divergence-1`` (step ``divergence`` reads the
  shared block ``divergence`` too, so the first decision that differs is taken on identical inputs);
* ``chosen`` and ``rejected`` are the token ids of steps ``divergence .. span_end-1`` (the scored span, the same
  length for both); ``chosen_mic``/``chosen_assistant`` (and the rejected ones) are each branch's inputs of blocks
  ``divergence+1 .. span_end-1``, rendered for that branch's own behaviour (empty when the span is one block).

Stored columns: ``id, kind, source, outcome, dialogue, start, start_mode, span, echo_factor, weight, prefix_tokens, chosen,
rejected, mic, assistant, chosen_mic, chosen_assistant, rejected_mic, rejected_assistant, meta`` with the audio as
Hugging Face ``Audio`` structs (FLAC bytes; an empty branch is ``{bytes: null, path: null}``), as in
:mod:`datagen.corpus`.  ``span`` is ``[divergence, span_end]`` in window blocks; ``start`` the window's first sample in
the dialogue (static) or the item (on-policy), ``start_mode`` the speaking mode before its first step (1 when the
window starts inside the assistant's turn: the tokens' ``<shift>`` toggles count from it).

The pair-set directory::

    pairs/
      pairs.json              the definition (corpus, runs, kinds, tokenizer identity, context, span): resume pin
      data/<job>.parquet      shards, one per corpus shard (labels) and per run chunk (on-policy)
      text.jsonl              the TRL-shaped view: id, kind, source, prompt, chosen, rejected (token strings)
      stats.json              counts per kind, source and outcome
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from datagen.common.audio import decode_audio, encode_flac
from datagen.common.errors import DuplexkitError, one_line
from datagen.common.files import atomic_write_bytes, read_json_object
from datagen.corpus import RUN_METADATA_KEY, shard_run_digest  # one key and reader for corpus and pair shards
from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE

PAIRS_VERSION = "1"
DEFINITION = "pairs.json"
SHARD_GLOB = "*.parquet"
SKIPPED_KEY = b"duplexkit_skipped"  # wrong outcomes of this shard's records that gave no pair, by outcome
# Decision-point kinds (one vocabulary for both sources); the distractor kinds are datagen.schema.DISTRACTOR_KINDS.
KINDS: tuple[str, ...] = ("interruption", "user_backchannel", "unrelated_question", "talking_to_others",
                          "background_speech", "noise_burst", "pause", "end_of_turn", "echo_only")
# On-policy outcomes (the benchmark's wrong outcomes) -> the decision-point kind they are a failure of.
OUTCOMES: tuple[str, ...] = ("missed", "false_alarm", "pause_takeover", "early_takeover", "self_interruption",
                             "no_takeover")
AUDIO_FIELDS = ("mic", "assistant", "chosen_mic", "chosen_assistant", "rejected_mic", "rejected_assistant")


class PairsError(DuplexkitError, RuntimeError):
    """A pair set or its inputs that cannot be used (another corpus, another tokenizer, empty, damaged); one line."""


class PairTokens(Protocol):
    """The token side of pairs, injected by the caller (the model package owns tokenizers and target streams;
    ``datagen`` never imports it): ``recipes.pairs.ModelPairTokens`` is the implementation."""

    think: int
    shift: int
    identity: dict[str, Any]  # tokenizer identity, synth delay, thinking mode: a pair set is only valid under it

    def targets(self, dialogue: Any) -> np.ndarray: ...  # (T,) target token ids of a whole dialogue

    def mode(self, tokens: Sequence[int]) -> np.ndarray: ...  # speaking mode after each step

    def encode(self, text: str) -> list[int]: ...

    def piece(self, token: int) -> str: ...  # a readable token string for the text view


@dataclass
class Pair:
    id: str
    kind: str
    source: str  # "labels" or "run:<run name>/<run id>"
    dialogue: str
    start: int
    divergence: int
    span_end: int
    prefix_tokens: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    mic: np.ndarray
    assistant: np.ndarray
    chosen_mic: np.ndarray
    chosen_assistant: np.ndarray
    rejected_mic: np.ndarray
    rejected_assistant: np.ndarray
    echo_factor: float = 1.0
    weight: float = 1.0
    outcome: str = ""
    start_mode: int = 0  # the speaking mode before the window's first step (a window may start mid-answer)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def span(self) -> tuple[int, int]:
        return self.divergence, self.span_end

    def check(self) -> "Pair":
        """The invariants every writer and reader relies on (a ValueError names the first one broken)."""
        d, e = self.divergence, self.span_end
        if not 0 < d < e:
            raise ValueError(f"pair {self.id}: span [{d}, {e}) must start after block 0 and be non-empty")
        if len(self.prefix_tokens) != d:
            raise ValueError(f"pair {self.id}: {len(self.prefix_tokens)} prefix tokens, expected {d}")
        if len(self.chosen) != e - d or len(self.rejected) != e - d:
            raise ValueError(f"pair {self.id}: chosen/rejected must have {e - d} tokens")
        if np.array_equal(self.chosen, self.rejected):
            raise ValueError(f"pair {self.id}: chosen equals rejected")
        for name in ("mic", "assistant"):
            if len(getattr(self, name)) != (d + 1) * BLOCK_SAMPLES:
                raise ValueError(f"pair {self.id}: {name} must cover blocks 0..{d}")
        for name in AUDIO_FIELDS[2:]:
            if len(getattr(self, name)) != (e - d - 1) * BLOCK_SAMPLES:
                raise ValueError(f"pair {self.id}: {name} must cover blocks {d + 1}..{e - 1}")
        return self

    def inputs(self, branch: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mic, assistant, tokens) of one branch over the whole window (``span_end`` blocks)."""
        if branch not in ("chosen", "rejected"):
            raise ValueError(f"branch: {branch!r} (chosen or rejected)")
        mic = np.concatenate([self.mic, getattr(self, f"{branch}_mic")])
        asst = np.concatenate([self.assistant, getattr(self, f"{branch}_assistant")])
        tokens = np.concatenate([self.prefix_tokens, getattr(self, branch)]).astype(np.int64)
        return mic, asst, tokens


# ------------------------------------------------------------------------------------------------------------------
# Parquet rows
# ------------------------------------------------------------------------------------------------------------------
def hf_features() -> dict[str, Any]:
    value = lambda t: {"dtype": t, "_type": "Value"}  # noqa: E731
    seq = lambda t: {"feature": value(t), "_type": "Sequence"}  # noqa: E731
    feats: dict[str, Any] = {
        "id": value("string"), "kind": value("string"), "source": value("string"), "outcome": value("string"),
        "dialogue": value("string"), "start": value("int64"), "start_mode": value("int8"), "span": seq("int32"),
        "echo_factor": value("float64"), "weight": value("float64"), "prefix_tokens": seq("int64"),
        "chosen": seq("int64"), "rejected": seq("int64"),
    }
    for name in AUDIO_FIELDS:
        feats[name] = {"sampling_rate": SAMPLE_RATE, "decode": True, "_type": "Audio"}
    feats["meta"] = value("string")
    return feats


def _schema(run_digest: str | None, skipped: dict[str, int] | None = None):
    import pyarrow as pa

    audio = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    cols = [("id", pa.string()), ("kind", pa.string()), ("source", pa.string()), ("outcome", pa.string()),
            ("dialogue", pa.string()), ("start", pa.int64()), ("start_mode", pa.int8()), ("span", pa.list_(pa.int32())),
            ("echo_factor", pa.float64()), ("weight", pa.float64()), ("prefix_tokens", pa.list_(pa.int64())),
            ("chosen", pa.list_(pa.int64())), ("rejected", pa.list_(pa.int64()))]
    cols += [(name, audio) for name in AUDIO_FIELDS] + [("meta", pa.string())]
    meta = {b"huggingface": json.dumps({"info": {"features": hf_features()}}).encode()}
    if run_digest is not None:
        meta[RUN_METADATA_KEY] = run_digest.encode()
    if skipped:
        meta[SKIPPED_KEY] = json.dumps(skipped, sort_keys=True).encode()
    return pa.schema(cols, metadata=meta)


def _audio_cell(x: np.ndarray, name: str) -> dict[str, Any]:
    if len(x) == 0:
        return {"bytes": None, "path": None}
    return {"bytes": encode_flac(np.asarray(x, np.float32)), "path": f"{name}.flac"}


def write_pair_shard(path: str | Path, pairs: Sequence[Pair], run_digest: str,
                     skipped: dict[str, int] | None = None) -> None:
    """Write pairs as one parquet shard, atomically, stamped with the pair set's definition digest (and the count
    of wrong outcomes that gave no pair, so stats survive a resume)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(run_digest, skipped)
    rows: dict[str, list[Any]] = {name: [] for name in schema.names}
    for p in pairs:
        p.check()
        for name in ("id", "kind", "source", "outcome", "dialogue"):
            rows[name].append(getattr(p, name))
        rows["start"].append(int(p.start))
        rows["start_mode"].append(int(p.start_mode))
        rows["span"].append([int(p.divergence), int(p.span_end)])
        rows["echo_factor"].append(float(p.echo_factor))
        rows["weight"].append(float(p.weight))
        for name in ("prefix_tokens", "chosen", "rejected"):
            rows[name].append([int(t) for t in getattr(p, name)])
        for name in AUDIO_FIELDS:
            rows[name].append(_audio_cell(getattr(p, name), f"{p.id}-{name}".replace("/", "_")))
        rows["meta"].append(json.dumps(p.meta, sort_keys=True, default=str))
    table = pa.Table.from_pydict(rows, schema=schema)
    buf = pa.BufferOutputStream()
    codecs = {name: ("none" if name in AUDIO_FIELDS else "zstd") for name in table.column_names}
    pq.write_table(table, buf, compression=codecs, row_group_size=max(1, len(pairs)))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, memoryview(buf.getvalue()))


def shard_digest(path: str | Path) -> str | None:
    return shard_run_digest(path, PairsError, "pair shard")


def shard_skipped(path: str | Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:  # noqa: BLE001
        raise PairsError(f"{path}: unreadable pair shard ({one_line(exc)})") from None
    return json.loads(meta[SKIPPED_KEY]) if SKIPPED_KEY in meta else {}


def _read_table(path: Path, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except Exception as exc:  # noqa: BLE001
        raise PairsError(f"{path}: unreadable pair shard ({one_line(exc)})") from None


def _decode(cell: dict[str, Any] | None, where: str) -> np.ndarray:
    if not cell or cell.get("bytes") is None:
        return np.zeros(0, np.float32)
    try:
        return decode_audio(cell["bytes"], where)
    except Exception as exc:  # noqa: BLE001
        raise PairsError(f"{where}: {one_line(exc)}") from None


def read_pair_shard(path: str | Path, audio: bool = True) -> list[Pair]:
    """The pairs of one shard (with ``audio=False`` the audio fields are empty: for the text view and stats)."""
    path = Path(path)
    names = [n for n in _schema(None).names if audio or n not in AUDIO_FIELDS]
    table = _read_table(path, names)
    out = []
    for i, row in enumerate(table.to_pylist()):
        try:
            arrays = {n: _decode(row[n], f"{path}: {row['id']}.{n}") if audio else np.zeros(0, np.float32)
                      for n in AUDIO_FIELDS}
            d, e = row["span"]
            p = Pair(id=row["id"], kind=row["kind"], source=row["source"], dialogue=row["dialogue"],
                     start=int(row["start"]), start_mode=int(row["start_mode"]), divergence=int(d), span_end=int(e),
                     prefix_tokens=np.asarray(row["prefix_tokens"], np.int64),
                     chosen=np.asarray(row["chosen"], np.int64), rejected=np.asarray(row["rejected"], np.int64),
                     echo_factor=float(row["echo_factor"]), weight=float(row["weight"]), outcome=row["outcome"],
                     meta=json.loads(row["meta"] or "{}"), **arrays)
            if audio:
                p.check()
        except PairsError:
            raise
        except Exception as exc:  # noqa: BLE001 - a row that breaks the format
            raise PairsError(f"{path}: row {i}: not a valid pair ({one_line(exc)})") from None
        out.append(p)
    return out


class PairSet:
    """A pair-set directory: its definition and its shards (pairs decoded on demand)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        pin = self.root / DEFINITION
        if not pin.is_file():
            raise PairsError(f"{pin}: missing (not a pair set: make one with `duplexkit pairs --data CORPUS --out DIR`)")
        self.definition = read_json_object(pin, PairsError)
        if str(self.definition.get("pairs_version")) != PAIRS_VERSION:
            raise PairsError(f"{pin}: pairs_version {self.definition.get('pairs_version')!r} is not readable by this "
                             f"duplexkit (reads {PAIRS_VERSION})")
        self.shards = sorted((self.root / "data").glob(SHARD_GLOB))
        stats = self.root / "stats.json"
        self.stats = read_json_object(stats, PairsError) if stats.is_file() else None

    @property
    def identity(self) -> dict[str, Any]:
        return dict(self.definition.get("tokens") or {})

    def check_finished(self) -> None:
        if self.stats is None:
            raise PairsError(f"{self.root}: no stats.json (the pair set is unfinished: run the same `duplexkit pairs` "
                             "command again)")
        if not self.shards or not int(self.stats.get("num_pairs", 0)):
            raise PairsError(f"{self.root}: an empty pair set (no pairs to train on)")

    def check_identity(self, identity: dict[str, Any]) -> None:
        """PairsError when the pair set's token ids were made under another tokenizer or model timing."""
        mine = self.identity
        diff = [k for k in sorted(set(mine) | set(identity)) if mine.get(k) != identity.get(k)]
        if diff:
            k = diff[0]
            raise PairsError(f"{self.root}: a pair set made for another tokenizer or config ({k} {mine.get(k)!r}, "
                             f"the model has {identity.get(k)!r}); make the pairs again for this model")

    def __iter__(self) -> Iterator[Pair]:
        for shard in self.shards:
            yield from read_pair_shard(shard)

    def load(self) -> list[Pair]:
        return list(self)
