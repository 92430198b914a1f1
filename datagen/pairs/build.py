"""``duplexkit pairs``: a pair set from a corpus's labels and from benchmark runs, deterministic and resumable.

Jobs are the corpus's shards (static pairs) and chunks of each run's records (on-policy pairs); each job writes one
parquet shard atomically, stamped with the digest of the pair set's definition (``pairs.json``), so a killed run
started again keeps its finished shards, and a shard of another definition is never merged.  The text view and
``stats.json`` are rebuilt from the shards at the end.  Every input is checked before anything is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from datagen.common.files import atomic_write_text, sweep_stale
from datagen.common.pinning import digest, pin_run
from datagen.corpus import Corpus, corpus_id

from .labels import PairOptions, label_pairs
from .record import (DEFINITION, KINDS, PAIRS_VERSION, Pair, PairsError, PairTokens, read_pair_shard, shard_digest,
                     shard_skipped, write_pair_shard)
from .runs import iter_chunks, open_run, run_pairs

RUN_CHUNK = 64  # run records per on-policy shard
STATE_DIR = ".state"
TEXT_VIEW = "text.jsonl"


def check_kinds(kinds: Sequence[str] | None) -> list[str]:
    if not kinds:
        return list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise PairsError(f"--kinds: unknown kind {bad[0]!r} (known: {', '.join(KINDS)})")
    return [k for k in KINDS if k in kinds]


def build_pair_set(data: str | Path, out: str | Path, tokens: PairTokens, runs: Sequence[str | Path] = (),
                   kinds: Sequence[str] | None = None, context_s: float = 4.0, span_blocks: int = 8,
                   weights: Mapping[str, float] | None = None, labels: bool = True, keep: bool = False,
                   progress: bool = True) -> dict[str, Any]:
    """Write (or finish) a pair set in ``out``; returns its stats.  ``labels=False``: on-policy pairs only;
    ``keep``: runs' right outcomes give "keep" pairs too (chosen = the model's own tokens)."""
    from tqdm.auto import tqdm

    from datagen.acoustics import RIRBank
    from datagen.schema import BLOCK_MS

    kinds = check_kinds(kinds)
    if not 0 < context_s <= 60 or not 1 <= int(span_blocks) <= 64:
        raise PairsError(f"--context-s {context_s} / --span-blocks {span_blocks}: expected (0, 60] s and 1..64 blocks")
    corpus = Corpus(data)
    corpus.check_complete()
    cid = corpus_id(corpus.root)
    tokenizer = str(tokens.identity.get("tokenizer") or "")
    opened = [open_run(r, cid, tokenizer) for r in runs]
    names = [r.name for r in opened]
    if len(set(names)) != len(names):
        raise PairsError(f"--from-run: two runs named {sorted(n for n in names if names.count(n) > 1)[0]!r} "
                         "(pair sources are named by their folder)")
    if not labels and not opened:
        raise PairsError("nothing to make pairs from: give --from-run RUN_DIR, or keep the label pairs")
    opts = PairOptions(context_blocks=max(1, int(round(context_s * 1000 / BLOCK_MS))), span_blocks=int(span_blocks),
                       weights=dict(weights or {}))
    definition = {"pairs_version": PAIRS_VERSION, "corpus": {"path": str(Path(data).resolve()), "id": cid},
                  "runs": [{"name": r.name, "path": str(r.root.resolve()), "run": r.definition} for r in opened],
                  "kinds": kinds, "labels": bool(labels), "keep": bool(keep), "context_blocks": opts.context_blocks,
                  "span_blocks": opts.span_blocks, "weights": opts.weights, "tokens": dict(tokens.identity)}
    out = Path(out)
    created = not out.exists()
    try:
        (out / "data").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PairsError(f"{out}: cannot create the pair set directory ({exc.strerror or exc})") from None
    try:
        pin_run(out / DEFINITION, definition, what="a pair set", error=PairsError)
    except PairsError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    run_digest = digest(definition)
    sweep_stale(out / "data")
    bank = RIRBank.load_or_build(corpus.acoustics(), progress=False)

    jobs: list[tuple[str, Any]] = []
    if labels:
        by_shard: dict[Path, list[str]] = {}
        for did, shard in corpus.shard_of().items():
            by_shard.setdefault(shard, []).append(did)
        for shard in sorted(by_shard):
            jobs.append((f"labels-{shard.stem.split('-')[-1]}.parquet", ("labels", shard)))
    for i, run in enumerate(opened):
        for j, chunk in enumerate(iter_chunks(run.records, RUN_CHUNK)):
            jobs.append((f"run{i:02d}-{j:05d}.parquet", ("run", run, list(chunk))))
    expected = {name for name, _ in jobs}
    for stray in (out / "data").glob("*.parquet"):
        if stray.name not in expected or shard_digest(stray) != run_digest:
            stray.unlink()  # a shard of another definition (or a foreign file) is never merged
    bar = tqdm(total=len(jobs), desc="pairs", unit="shard", disable=not progress, dynamic_ncols=True)
    from datagen.corpus import read_shard

    state = out / STATE_DIR  # jobs that gave no pair leave a marker here, not a 0-row shard (datasets rejects those)
    sweep_stale(state)
    for stray in state.glob("*.json") if state.is_dir() else ():
        if stray.stem not in expected or _marker(stray).get("digest") != run_digest:
            stray.unlink()
    with bar:
        for name, job in jobs:
            path = out / "data" / name
            if path.exists() or (state / f"{name}.json").exists():
                bar.update(1)
                continue
            pairs: list[Pair] = []
            skipped: dict[str, int] = {}
            if job[0] == "labels":
                for d, audio in read_shard(job[1], channels=("mic", "assistant")):
                    pairs += label_pairs(d, audio, tokens, bank, opts, kinds)
            else:
                pairs = run_pairs(job[1], job[2], corpus, tokens, bank, opts, kinds, skipped, keep=keep)
            if pairs:
                write_pair_shard(path, pairs, run_digest, skipped)
            else:
                state.mkdir(exist_ok=True)
                atomic_write_text(state / f"{name}.json", json.dumps({"digest": run_digest, "skipped": skipped},
                                                                      sort_keys=True))
            bar.update(1)
            bar.set_postfix(pairs=len(pairs))
    stats = finalize(out, tokens)
    if not stats["num_pairs"]:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise PairsError(f"{out}: no pairs: the corpus has no decision point of kinds {', '.join(kinds)} and the runs "
                         "no wrong outcome; nothing written")
    return stats


def _marker(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def token_strings(ids: Sequence[int], tokens: PairTokens) -> str:
    return " ".join(tokens.piece(int(t)) for t in ids)


def finalize(out: Path, tokens: PairTokens | None) -> dict[str, Any]:
    """Rebuild ``text.jsonl`` and ``stats.json`` from the shards (shard order, sorted keys)."""
    lines, kinds, sources, outcomes = [], {}, {}, {}
    spans = []
    skipped: dict[str, int] = {}
    markers = sorted((out / STATE_DIR).glob("*.json")) if (out / STATE_DIR).is_dir() else []
    for m in markers:
        for k, v in (_marker(m).get("skipped") or {}).items():
            skipped[k] = skipped.get(k, 0) + int(v)
    for shard in sorted((out / "data").glob("*.parquet")):
        for k, v in shard_skipped(shard).items():
            skipped[k] = skipped.get(k, 0) + int(v)
        for p in read_pair_shard(shard, audio=False):
            src = "labels" if p.source == "labels" else p.source.split("/")[0]
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
            sources.setdefault(src, {}).setdefault(p.kind, 0)
            sources[src][p.kind] += 1
            if p.outcome:
                outcomes[p.outcome] = outcomes.get(p.outcome, 0) + 1
            spans.append(p.span_end - p.divergence)
            if tokens is not None:
                lines.append(json.dumps({"id": p.id, "kind": p.kind, "source": p.source, "outcome": p.outcome,
                                         "prompt": token_strings(p.prefix_tokens, tokens),
                                         "chosen": token_strings(p.chosen, tokens),
                                         "rejected": token_strings(p.rejected, tokens)}, sort_keys=True))
    if tokens is not None:
        atomic_write_text(out / TEXT_VIEW, "".join(line + "\n" for line in lines))
    stats = {"pairs_version": PAIRS_VERSION, "num_pairs": sum(kinds.values()), "kinds": dict(sorted(kinds.items())),
             "sources": {k: dict(sorted(v.items())) for k, v in sorted(sources.items())},
             "outcomes": dict(sorted(outcomes.items())), "span_blocks": {
                 "mean": round(sum(spans) / len(spans), 3) if spans else None,
                 "one_block": sum(1 for s in spans if s == 1)},
             "skipped": dict(sorted(skipped.items()))}
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=1, sort_keys=True))
    return stats
