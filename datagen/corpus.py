"""The corpus directory of ARCHITECTURE.md: atomic parquet shards, the manifest, stats.json, and their readers.

```
corpus/
  manifest.jsonl              one dialogue record per line (datagen.schema.Dialogue.to_dict), in shard order
  data/shard-00000.parquet    id, mic, assistant, stem_user, stem_echo, stem_other, stem_noise, meta, labels
  stats.json                  hours, scenario mix, timing samples and histograms, generator version and config
```

Audio columns follow the Hugging Face ``Audio`` feature (FLAC bytes in a ``{bytes, path}`` struct, with the
``huggingface`` schema metadata), so ``datasets.load_dataset("parquet", ...)`` opens a shard; ``meta`` is the
dialogue record as JSON and ``labels`` the 80 ms frame labels (one int8 list per track of ``LABEL_TRACKS``).

Every file is written atomically (:mod:`datagen.common.files`), so a killed run never leaves a half-written shard,
manifest or stats file; the manifest and stats are rebuilt from the shards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from datagen.common.audio import decode_audio, encode_flac, encode_wav
from datagen.common.errors import DuplexkitError, one_line
from datagen.common.files import atomic_write_bytes, atomic_write_text, read_json_object
from datagen.schema import LABEL_TRACKS, SAMPLE_RATE, SCHEMA_VERSION, Dialogue, frame_labels

AUDIO_COLUMNS: tuple[tuple[str, str], ...] = (  # (parquet column, audio key)
    ("mic", "mic"),
    ("assistant", "assistant"),
    ("stem_user", "user"),
    ("stem_echo", "echo"),
    ("stem_other", "other"),
    ("stem_noise", "noise"),
)
SHARD_GLOB = "shard-*.parquet"
STATS_SECTIONS: dict[str, type | tuple[type, ...]] = {  # stats.json keys readers rely on, and their types
    "config": dict, "timing": dict, "scenario_mix": dict, "event_counts": dict, "hours": (int, float),
    "num_dialogues": int, "total_seconds": (int, float),
}


class CorpusError(DuplexkitError, RuntimeError):
    """A corpus that cannot be read or written; one line naming the file."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def list_shards(corpus_dir: str | Path) -> list[Path]:
    return sorted((Path(corpus_dir) / "data").glob(SHARD_GLOB))


def hf_features() -> dict[str, Any]:
    """The ``datasets`` feature description stored in the schema metadata (written by hand: no datasets import)."""
    int8_list = {"feature": {"dtype": "int8", "_type": "Value"}, "_type": "Sequence"}
    feats: dict[str, Any] = {"id": {"dtype": "string", "_type": "Value"}}
    for col, _ in AUDIO_COLUMNS:
        feats[col] = {"sampling_rate": SAMPLE_RATE, "decode": True, "_type": "Audio"}
    feats["meta"] = {"dtype": "string", "_type": "Value"}
    feats["labels"] = {name: int8_list for name in LABEL_TRACKS}
    return feats


RUN_METADATA_KEY = b"duplexkit_run"  # parquet schema metadata: the digest of the run definition that wrote the shard


def _schema(run_digest: str | None = None):
    import pyarrow as pa

    audio = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    cols = [("id", pa.string())] + [(c, audio) for c, _ in AUDIO_COLUMNS] + [("meta", pa.string())]
    cols.append(("labels", pa.struct([(name, pa.list_(pa.int8())) for name in LABEL_TRACKS])))
    meta = {b"huggingface": json.dumps({"info": {"features": hf_features()}}).encode()}
    if run_digest is not None:
        meta[RUN_METADATA_KEY] = run_digest.encode()
    return pa.schema(cols, metadata=meta)


def shard_run_digest(path: str | Path, error: type[Exception] = CorpusError,
                     what: str = "parquet shard") -> str | None:
    """The run definition digest a shard (of a corpus, or of a pair set) was written with (None: written without
    one, or not ours); a damaged file is ``error`` naming it."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for damaged files
        raise error(f"{path}: unreadable {what} ({one_line(exc)})") from None
    value = meta.get(RUN_METADATA_KEY)
    return value.decode() if value is not None else None


# ------------------------------------------------------------------------------------------------------------------
# Shards
# ------------------------------------------------------------------------------------------------------------------
AUDIO_FORMATS = ("flac", "wav")


def write_shard(path: str | Path, items: Sequence[tuple[Dialogue, Mapping[str, np.ndarray]]],
                run_digest: str | None = None, audio_format: str = "flac") -> None:
    """Write dialogues and their audio as one parquet shard, atomically, stamped with ``run_digest`` (what the
    shard was made with: a resumed run checks it, so a shard of another corpus is never merged in).

    ``audio_format``: ``flac`` (16-bit FLAC bytes, stored uncompressed by parquet) or ``wav`` (16-bit PCM WAV
    bytes, lz4 in parquet: much cheaper to write, about twice the bytes; both decode with soundfile and
    ``datasets.Audio``)."""
    if audio_format not in AUDIO_FORMATS:
        raise CorpusError(f"audio_format: expected one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}")
    encode = encode_flac if audio_format == "flac" else encode_wav
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    rows: dict[str, list[Any]] = {name: [] for name in _schema().names}
    for dialogue, audio in items:
        n = dialogue.num_samples
        rows["id"].append(dialogue.id)
        for col, key in AUDIO_COLUMNS:
            if len(audio[key]) != n:
                raise CorpusError(f"{dialogue.id}: channel {key} has {len(audio[key])} samples, expected {n}")
            rows[col].append({"bytes": encode(audio[key]), "path": f"{dialogue.id}-{col}.{audio_format}"})
        rows["meta"].append(json.dumps(dialogue.to_dict(), sort_keys=True))
        rows["labels"].append({k: v.tolist() for k, v in frame_labels(dialogue).items()})
    table = pa.Table.from_pydict(rows, schema=_schema(run_digest))
    buf = pa.BufferOutputStream()
    # FLAC is compressed already: compressing it again costs time and saves nothing.  PCM gets lz4: on a 4-minute
    # shard (6 audio columns, mostly silent stems) zstd-1 took 0.18 CPU s for 24.0 MB, lz4 0.04 s for 29.7 MB, and
    # no compression 0.12 s for 47.6 MB (perf/bench_datagen.py is the throughput option's benchmark).  Audio values
    # are all distinct: no dictionary (its hashing of every clip was wasted) and no min/max statistics.
    small = ["id", "meta", *(f"labels.{name}.list.element" for name in LABEL_TRACKS)]
    options = {"use_dictionary": small, "write_statistics": small, "row_group_size": max(1, len(items))}
    if audio_format == "flac":
        codecs = {name: ("zstd" if name in ("id", "meta", "labels") else "none") for name in table.column_names}
        pq.write_table(table, buf, compression=codecs, **options)
    else:
        pq.write_table(table, buf, compression="lz4", **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, memoryview(buf.getvalue()))  # written as is, not copied into bytes first


def _read_table(path: Path, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except Exception as exc:
        raise CorpusError(f"{path}: unreadable parquet shard ({one_line(exc)})") from None


def read_shard_meta(path: str | Path) -> list[Dialogue]:
    """The dialogue records of a shard (no audio decoded)."""
    path = Path(path)
    out = []
    for i, text in enumerate(_read_table(path, ["meta"]).column("meta").to_pylist()):
        try:
            out.append(Dialogue.from_dict(json.loads(text)))
        except Exception as exc:
            raise CorpusError(f"{path}: row {i}: bad dialogue record ({exc})") from None
    return out


def read_shard(path: str | Path, channels: Sequence[str] | None = None) -> Iterator[tuple[Dialogue, dict[str, np.ndarray]]]:
    """Dialogues with decoded audio (all channels and stems, or only ``channels`` by audio key)."""
    path = Path(path)
    wanted = [(c, k) for c, k in AUDIO_COLUMNS if channels is None or k in channels]
    table = _read_table(path, ["meta"] + [c for c, _ in wanted])
    metas = table.column("meta").to_pylist()
    cols = {c: table.column(c).to_pylist() for c, _ in wanted}
    for i, text in enumerate(metas):
        dialogue = Dialogue.from_dict(json.loads(text))
        audio = {k: decode_audio(cols[c][i]["bytes"], f"{path}: {dialogue.id}.{c}") for c, k in wanted}
        yield dialogue, audio


# ------------------------------------------------------------------------------------------------------------------
# The corpus
# ------------------------------------------------------------------------------------------------------------------
class Corpus:
    """A corpus directory: its manifest records, and audio on demand."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        manifest = self.root / "manifest.jsonl"
        if not manifest.is_file():
            raise CorpusError(f"{manifest}: missing (not a duplexkit corpus, or generation did not finish)")
        self.dialogues: list[Dialogue] = []
        with manifest.open() as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    self.dialogues.append(Dialogue.from_dict(json.loads(line)))
                except Exception as exc:
                    raise CorpusError(f"{manifest}: line {lineno}: {exc}") from None
        self._by_id = {d.id: d for d in self.dialogues}
        self._shard_of: dict[str, Path] | None = None

    def __len__(self) -> int:
        return len(self.dialogues)

    def __iter__(self) -> Iterator[Dialogue]:
        return iter(self.dialogues)

    def dialogue(self, id_: str) -> Dialogue:
        if id_ not in self._by_id:
            sample = ", ".join(list(self._by_id)[:3])
            raise CorpusError(f"{self.root}: no dialogue {id_!r} (ids look like {sample})")
        return self._by_id[id_]

    def stats(self) -> dict[str, Any]:
        """stats.json, its sections checked for type (a hand-edited or foreign file is named, not a traceback)."""
        path = self.root / "stats.json"
        stats = read_json_object(path, CorpusError)
        for key, kind in STATS_SECTIONS.items():
            if key in stats and not isinstance(stats[key], kind):
                expected = {dict: "a mapping", int: "an integer"}.get(kind, "a number")  # type: ignore[call-overload]
                raise CorpusError(f"{path}: {key}: expected {expected}, got {stats[key]!r:.60}")
        for key in ("acoustics", "tts", "sources", "timing"):
            if not isinstance(stats.get("config", {}).get(key, {}), dict):
                raise CorpusError(f"{path}: config.{key}: expected a mapping, got {stats['config'][key]!r:.60}")
        return stats

    def acoustics(self):
        """The acoustics config the corpus was rendered with (its RIR bank is rebuilt from it), validated."""
        from datagen.acoustics import AcousticsConfig

        try:
            cfg = AcousticsConfig.from_dict(self.stats().get("config", {}).get("acoustics"))
            cfg.validate()
        except (ValueError, TypeError) as exc:
            raise CorpusError(f"{self.root / 'stats.json'}: config.acoustics: {one_line(exc)}") from None
        return cfg

    def shard_of(self) -> dict[str, Path]:
        """Dialogue id -> the shard holding it (read once: the shards' ``id`` columns only)."""
        if self._shard_of is None:
            self._shard_of = {}
            for shard in list_shards(self.root):
                for i in _read_table(shard, ["id"]).column("id").to_pylist():
                    self._shard_of[i] = shard
        return self._shard_of

    def check_complete(self) -> None:
        """CorpusError when the manifest and the shards do not hold the same dialogues (a missing or foreign
        shard): a job over the whole corpus would otherwise quietly do a subset."""
        held = set(self.shard_of())
        listed = set(self._by_id)
        if held != listed:
            missing, extra = sorted(listed - held), sorted(held - listed)
            what = (f"{len(missing)} dialogues of the manifest are in no shard (e.g. {missing[0]})" if missing else
                    f"the shards hold {len(extra)} dialogues the manifest does not list (e.g. {extra[0]})")
            raise CorpusError(f"{self.root}: {what}; finish the corpus with the same generate command, or check "
                              "it with `duplexkit validate`")

    def audio(self, id_: str, channels: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Decoded audio of one dialogue (reads only its shard's row)."""
        self.dialogue(id_)
        shard = self.shard_of().get(id_)
        if shard is None:
            raise CorpusError(f"{self.root}: dialogue {id_!r} is in the manifest but in no shard")
        import pyarrow.compute as pc

        wanted = [(c, k) for c, k in AUDIO_COLUMNS if channels is None or k in channels]
        table = _read_table(shard, ["id"] + [c for c, _ in wanted])
        row = table.filter(pc.equal(table.column("id"), id_))
        return {k: decode_audio(row.column(c)[0].as_py()["bytes"], f"{shard}: {id_}.{c}") for c, k in wanted}

    def iter_audio(self, channels: Sequence[str] | None = None) -> Iterator[tuple[Dialogue, dict[str, np.ndarray]]]:
        """Every dialogue with its audio, shard by shard; refuses an incomplete corpus up front."""
        self.check_complete()
        for shard in list_shards(self.root):
            yield from read_shard(shard, channels)


def corpus_id(root: str | Path) -> str:
    """The corpus's identity: its folder name and a hash of its manifest (what a benchmark run and a pair set
    record, so outputs of another corpus are recognised)."""
    import hashlib

    root = Path(root)
    h = hashlib.sha256((root / "manifest.jsonl").read_bytes()).hexdigest()[:16]
    return f"{root.name}-{h}"


def tts_requests(d: Dialogue) -> list[tuple[str, str, str]]:
    """(speaker, voice, text) of each synthesis a dialogue's turns came from, in order: a ``continuation`` turn is a
    later part of its speaker's previous turn, said in one breath with it (``DialogueBuilder.synth_parts``), so the
    request is their joined text; every other turn is its own request (its full text when it was cut short)."""
    requests: list[tuple[str, str, str]] = []
    last: dict[str, int] = {}  # speaker -> index of its latest request
    for t in d.turns:
        if t.kind == "continuation" and t.speaker in last:
            speaker, voice, text = requests[last[t.speaker]]
            requests[last[t.speaker]] = (speaker, voice, f"{text} {t.text}")
        else:
            last[t.speaker] = len(requests)
            requests.append((t.speaker, t.voice, t.full_text or t.text))
    return requests


def tts_reuse(dialogues: list[Dialogue]) -> dict[str, Any]:
    """The TTS cache's hit rate over the corpus as a cache empty at the start of the run sees it: one request per
    synthesis (:func:`tts_requests`), hits = requests whose (voice, text) came before.  Computed from the records,
    so it is the same whatever the workers or earlier runs (hits on entries earlier runs left on disk are not in
    stats.json: ``generate`` reports them)."""
    seen: set[tuple[str, str]] = set()
    by_speaker: dict[str, list[int]] = {}
    n = 0
    for d in dialogues:
        for speaker, voice, text in tts_requests(d):
            counts = by_speaker.setdefault(speaker, [0, 0])
            counts[0] += 1
            counts[1] += (voice, text) in seen
            seen.add((voice, text))
            n += 1
    return {"requests": n, "distinct": len(seen), "hit_rate": round(1 - len(seen) / n, 4) if n else 0.0,
            "hit_rate_by_speaker": {s: round(h / r, 4) for s, (r, h) in sorted(by_speaker.items())}}


def finalize(out: str | Path, config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Rebuild manifest.jsonl and stats.json from the shards (deterministically: shard order, sorted keys)."""
    from datagen import __version__
    from datagen.distributions import timing_from_config
    from datagen.timing_stats import corpus_timing

    out = Path(out)
    dialogues: list[Dialogue] = []
    for shard in list_shards(out):
        dialogues.extend(read_shard_meta(shard))
    lines = [json.dumps(d.to_dict(), sort_keys=True) for d in dialogues]
    atomic_write_text(out / "manifest.jsonl", "".join(line + "\n" for line in lines))
    total = sum(d.duration_s for d in dialogues)
    mix: dict[str, int] = {}
    events: dict[str, int] = {}
    for d in dialogues:
        mix[d.scenario] = mix.get(d.scenario, 0) + 1
        for e in d.events:
            key = e.type + (f":{e.context}" if e.context else "") + (f":{e.kind}" if e.kind else "")
            events[key] = events.get(key, 0) + 1
    stats: dict[str, Any] = {
        "generator": {"name": "duplexkit.datagen", "version": __version__, "schema_version": SCHEMA_VERSION},
        "num_dialogues": len(dialogues),
        "total_seconds": round(total, 3),
        "longest_dialogue_s": round(max((d.duration_s for d in dialogues), default=0.0), 3),
        "hours": round(total / 3600.0, 4),
        "scenario_mix": dict(sorted(mix.items())),
        "event_counts": dict(sorted(events.items())),
        "timing": corpus_timing(dialogues, timing_from_config(config.get("timing"))),
        "config": dict(config),
        "tts_cache": tts_reuse(dialogues),
    }
    stats.update(extra or {})
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=1, sort_keys=True))
    return stats
