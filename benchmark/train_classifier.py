"""Training the ``turn_classifier`` baseline (:mod:`benchmark.models.turn_classifier`) on a corpus's frame labels.

``duplexkit bench train-classifier --data TRAIN --val-data VAL --out DIR`` (:func:`train_classifier`).

Inputs per dialogue: the ``mic`` channel (what it hears) and the ``assistant`` channel (its own output as played),
pushed block by block through the adapter's own :class:`FeatureStream`.  Labels from ``datagen.schema`` frame
labels (``state``: listening/speaking, the corpus assistant being the ideal behaviour) and the dialogue's events.
Block ``k``'s output plays during block ``k+1`` (the protocol), so the decision at ``k`` targets ``state[k+1:]``:

* **start head** (frames where ``state[k] == 0``): positive when the corpus assistant starts speaking within the
  next ``lead`` blocks (``state[k+1:k+1+lead]`` has a 1; 240 ms, so a threshold can meet the corpus's onset rather
  than lag it); everything else while listening (the user talking, in-turn pauses, clause pauses of long turns,
  silence after an answer) is a negative ("hold").
* **stop head** (frames where ``state[k] == 1``): positive ("stop") from 2 blocks before an interruption's causal
  decision to the decision's block (the corpus stops one block after it), and a late stop's overrun blocks;
  negatives ("continue") are the other speaking frames, talking through backchannels and distractors; frames just
  before a natural end of an answer are left out (running out of words is not a decision the adapter makes).

Selection on the validation corpus (another seed of the train split, never the test split): for each head, a few
candidates (logistic regression; histogram gradient boosting at two sizes; all with balanced class weights) are
fitted on train and ranked by average precision on validation frames; the winner's threshold is then chosen on
validation events: for the start head the best (take-over hits - pause take-overs) over corpus onsets and in-turn
/ clause pauses, for the stop head the best event F1 (interruptions caught within 1 s of their decision vs
backchannels, distractors and untouched answers that trip it).  Deterministic (fixed seeds, no early stopping,
sorted inputs): the same corpora give the same bytes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmark.models.turn_classifier import (FEATURES_VERSION, ClassifierError, FeatureConfig, FeatureStream,
                                              require_libs, save_model, stream_features)
from datagen.schema import frame_labels, frame_of

START_LEAD = 3
STOP_TOLERANCE = 2
STOP_BEFORE = 2  # stop positives: frames from this many blocks before an interruption's decision to its stop
START_WINDOW = 25  # blocks after a corpus onset a take-over still counts (2 s: the benchmark counts any)
STOP_WINDOW = 12  # blocks after a decision a stop still counts (~1 s, the benchmark's stop_window_s)
SEED = 0
# Train minutes the features take at most (every k-th shard beyond): features stream at ~60x real time per core and
# made 5 of the 6.3 min of training on the 300-min tiny train corpus (s29); the issue asks for a minute or two
MAX_TRAIN_MINUTES = 100.0


def dialogue_targets(d) -> dict[str, np.ndarray]:
    """Per frame: ``start_y``/``start_w`` and ``stop_y``/``stop_w`` (w = 1 where that head trains on the frame)."""
    lab = frame_labels(d)
    s = lab["state"].astype(np.int64)
    n = len(s)
    # (decision block, last stop block): a late stop (datagen late_stop_prob) talks on, and every overrun block is a stop
    decisions = [(frame_of(e.decision), frame_of(e.decision) + int(e.meta.get("late_stop_blocks", 0)))
                 for e in d.events if e.type == "interruption" and e.decision is not None]
    start_y = np.zeros(n, np.int8)
    stop_y = np.zeros(n, np.int8)
    start_w = (s == 0).astype(np.int8)
    stop_w = (s == 1).astype(np.int8)
    start_w[-1] = stop_w[-1] = 0
    for k in range(n - 1):
        if s[k] == 0:
            start_y[k] = int(s[k + 1:k + 1 + START_LEAD].any())
        else:
            if any(f - STOP_BEFORE <= k <= last for f, last in decisions):
                stop_y[k] = 1
            elif (s[k + 1:k + 1 + STOP_TOLERANCE] == 0).any():
                stop_w[k] = 0  # a natural end (or a stop whose decision is not recorded)
    return {"start_y": start_y, "start_w": start_w, "stop_y": stop_y, "stop_w": stop_w, "state": s.astype(np.int8)}


def _shard_frames(shard: str, cfg: FeatureConfig, select: Callable[[Any], bool] | None = None) -> list[tuple]:
    """(dialogue, features, targets) for the dialogues of one shard (a process pool's unit of work)."""
    from datagen.corpus import read_shard

    out = []
    for d, audio in read_shard(shard, ["mic", "assistant"]):
        if select is None or select(d):
            out.append((d, stream_features(audio["mic"], audio["assistant"], cfg), dialogue_targets(d)))
    return out


def corpus_frames(path: str | Path, cfg: FeatureConfig, progress: bool = False,
                  select: Callable[[Any], bool] | None = None, stride: int = 1, workers: int = 1) -> dict[str, Any]:
    """Features and targets for every frame of a corpus (of every ``stride``-th shard, of the dialogues ``select``
    keeps), plus each dialogue's frame range (for event scoring).  ``workers`` processes stream the shards (the
    features run at ~60x real time per core); the result is the same whatever their number."""
    from datagen.corpus import Corpus, list_shards

    Corpus(path).check_complete()
    shards = [str(p) for p in list_shards(path)[::max(1, stride)]]
    if workers > 1 and select is None and len(shards) > 1:
        from concurrent.futures import ProcessPoolExecutor
        from functools import partial

        with ProcessPoolExecutor(min(workers, len(shards))) as pool:
            per_shard = list(pool.map(partial(_shard_frames, cfg=cfg), shards))
    else:
        per_shard = [_shard_frames(sh, cfg, select) for sh in shards]
    X, parts, spans, dialogues = [], {k: [] for k in ("start_y", "start_w", "stop_y", "stop_w", "state")}, [], []
    at = 0
    for d, f, t in (row for rows in per_shard for row in rows):
        n = min(len(f), len(t["state"]))
        X.append(f[:n])
        for k in parts:
            parts[k].append(t[k][:n])
        spans.append((at, at + n))
        dialogues.append(d)
        at += n
        if progress:
            print(f"  features {d.id}: {n} blocks", flush=True)
    if not X:
        raise ClassifierError(f"{path}: the corpus holds no dialogues")
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["X"] = np.concatenate(X)
    out["spans"] = spans
    out["dialogues"] = dialogues
    return out


def shard_stride(path: str | Path, max_minutes: float | None) -> int:
    """Every how many shards the train features take so that about ``max_minutes`` of a corpus are used (1: all)."""
    import json
    import math

    if not max_minutes:
        return 1
    try:
        minutes = json.loads((Path(path) / "stats.json").read_text())["total_seconds"] / 60
    except (OSError, ValueError, KeyError):
        return 1
    return max(1, math.ceil(minutes / max_minutes))


def _candidates() -> list[tuple[str, dict[str, Any], Callable[[], Any]]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logreg(C):
        return lambda: make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000))

    def hgb(leaves, iters, lr):
        return lambda: HistGradientBoostingClassifier(max_leaf_nodes=leaves, max_iter=iters, learning_rate=lr,
                                                      class_weight="balanced", early_stopping=False,
                                                      l2_regularization=1.0, random_state=SEED)

    return [
        ("logreg", {"C": 0.1}, logreg(0.1)),
        ("logreg", {"C": 1.0}, logreg(1.0)),
        ("hgb", {"max_leaf_nodes": 15, "max_iter": 150, "learning_rate": 0.1}, hgb(15, 150, 0.1)),
        ("hgb", {"max_leaf_nodes": 31, "max_iter": 150, "learning_rate": 0.1}, hgb(31, 150, 0.1)),
    ]


# ------------------------------------------------------------------------------------------------------------------
# Event-level threshold choice on validation
# ------------------------------------------------------------------------------------------------------------------
def _start_events(val: dict[str, Any], p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per corpus onset: the best start probability in a window around it (listening frames); per in-turn or
    clause pause: the best probability inside it."""
    hits, falses = [], []
    for (a, b), d in zip(val["spans"], val["dialogues"]):
        s = val["state"][a:b]
        w = val["start_w"][a:b]
        pp = np.where(w > 0, p[a:b], 0.0)
        onsets = [k for k in range(1, len(s)) if s[k] == 1 and s[k - 1] == 0]
        for k in onsets:
            hits.append(pp[max(0, k - START_LEAD - 3):min(len(s), k + START_WINDOW)].max(initial=0.0))
        for e in d.events:
            if e.type == "user_pause" or (e.type == "assistant_backchannel"):
                f0, f1 = frame_of(e.start), frame_of(max(e.start, e.end - 1))
                falses.append(pp[f0:f1 + 1].max(initial=0.0))
    return np.asarray(hits), np.asarray(falses)


def _stop_events(val: dict[str, Any], p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per interruption (decision while the corpus talks): best stop probability in [decision-2, decision+12];
    per negative (user backchannel or distractor during an answer, or an answer with none): best probability over
    its talking frames."""
    hits, falses = [], []
    for (a, b), d in zip(val["spans"], val["dialogues"]):
        w = val["stop_w"][a:b]
        s = val["state"][a:b]
        pp = np.where(w > 0, p[a:b], 0.0)
        covered = np.zeros(len(s), bool)
        for e in d.events:
            if e.type == "interruption" and e.decision is not None:
                f = frame_of(e.decision)
                if 0 <= f < len(s) and s[f] == 1:
                    hits.append(pp[max(0, f - STOP_TOLERANCE):f + STOP_WINDOW].max(initial=0.0))
                covered[frame_of(e.start):frame_of(e.end) + STOP_WINDOW] = True
            elif e.type in ("user_backchannel", "distractor"):
                f0, f1 = frame_of(e.start), frame_of(e.end) + 6
                if s[f0:f1].any():
                    falses.append(pp[f0:f1].max(initial=0.0))
                covered[f0:f1] = True
        # the rest of each answer: a "silence" negative per answer turn
        for t in d.turns:
            if t.speaker == "assistant" and t.kind == "answer":
                f0, f1 = frame_of(t.start), frame_of(t.end)
                rest = ~covered[f0:f1]
                if rest.sum() > 12:
                    falses.append(np.where(rest, pp[f0:f1], 0.0).max(initial=0.0))
    return np.asarray(hits), np.asarray(falses)


PERSIST = (1, 2, 3)


def persisted(p: np.ndarray, mask: np.ndarray, spans: list[tuple[int, int]], persist: int) -> np.ndarray:
    """The lowest probability over the last ``persist`` frames of the same head and dialogue (0 where those are
    fewer): what the adapter compares with its threshold when a decision must hold ``persist`` blocks."""
    if persist <= 1:
        return p
    out = np.zeros_like(p)
    for a, b in spans:
        for k in range(a, b):
            lo = k - persist + 1
            if lo >= a and mask[lo:k + 1].all():
                out[k] = p[lo:k + 1].min()
    return out


GRID = np.round(np.concatenate([np.arange(0.05, 0.95, 0.025), np.arange(0.95, 0.996, 0.005)]), 4)


def choose_start_threshold(hits: np.ndarray, falses: np.ndarray) -> tuple[float, dict[str, float]]:
    best = None
    for th in GRID:
        h = float((hits >= th).mean()) if hits.size else 0.0
        f = float((falses >= th).mean()) if falses.size else 0.0
        score = h - f
        if best is None or score > best[0] + 1e-12:
            best = (score, float(th), h, f)
    _, th, h, f = best
    return th, {"takeover_hit_rate": round(h, 4), "pause_takeover_rate": round(f, 4),
                "n_onsets": int(hits.size), "n_pauses": int(falses.size)}


def choose_stop_threshold(hits: np.ndarray, falses: np.ndarray) -> tuple[float, dict[str, float]]:
    best = None
    for th in GRID:
        tp = int((hits >= th).sum())
        fp = int((falses >= th).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / hits.size if hits.size else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        if best is None or f1 > best[0] + 1e-12:
            best = (f1, float(th), prec, rec)
    f1, th, prec, rec = best
    return th, {"event_f1": round(f1, 4), "event_precision": round(prec, 4), "event_recall": round(rec, 4),
                "n_interruptions": int(hits.size), "n_negatives": int(falses.size)}


# ------------------------------------------------------------------------------------------------------------------
def train_classifier(data: str | Path, val_data: str | Path, out: str | Path, progress: bool = True,
                     candidates: list | None = None, select: Callable[[Any], bool] | None = None,
                     max_minutes: float | None = MAX_TRAIN_MINUTES, workers: int = 1) -> dict[str, Any]:
    """Fit both heads on ``data``, select model and thresholds on ``val_data``, save to ``out``; returns the
    summary (also in ``out/model.json``, without wall-clock times, so the folder is byte-deterministic).
    ``candidates`` replaces the model candidates, ``select`` keeps only some dialogues of the train corpus (tests);
    ``max_minutes``: a longer train corpus gives every k-th shard (:func:`shard_stride`; None: all of it);
    ``workers``: feature processes."""
    require_libs()
    from sklearn.metrics import average_precision_score

    if Path(data).resolve() == Path(val_data).resolve():
        raise ClassifierError("--val-data: must be another corpus than --data (a --split val corpus)")
    for role, path in (("--data", data), ("--val-data", val_data)):
        if _corpus_id(path)["split"] == "test":
            raise ClassifierError(f"{role} {path}: a --split test corpus; train and select on the train split only")
    t0 = time.perf_counter()
    cfg = FeatureConfig()
    say = print if progress else (lambda *a, **k: None)
    say(f"features: {data} (train), {val_data} (validation)", flush=True)
    stride = shard_stride(data, max_minutes)
    tr = corpus_frames(data, cfg, select=select, stride=stride, workers=workers)
    va = corpus_frames(val_data, cfg, workers=workers)
    t_feat = time.perf_counter() - t0
    say(f"  {len(tr['X'])} train blocks, {len(va['X'])} validation blocks ({t_feat:.1f} s)", flush=True)
    cands = candidates if candidates is not None else _candidates()
    from threadpoolctl import ThreadpoolController

    threads = ThreadpoolController()
    heads, selected, report = {}, {}, {}
    for head in ("start", "stop"):
        wt, wv = tr[f"{head}_w"] > 0, va[f"{head}_w"] > 0
        Xt, yt = tr["X"][wt], tr[f"{head}_y"][wt]
        Xv, yv = va["X"][wv], va[f"{head}_y"][wv]
        if yt.sum() == 0 or yt.sum() == len(yt):
            raise ClassifierError(f"{data}: no {'take-over' if head == 'start' else 'interruption stop'} frames to "
                                  f"learn the {head} head from (a bigger corpus, or one with those scenarios)")
        best = None
        tried = []
        for kind, params, make in cands:
            clf = make()
            with threads.limit(limits=1, user_api="openmp"):  # OpenMP on a shared machine stalls; one is plenty
                clf.fit(Xt, yt)
                ap = float(average_precision_score(yv, clf.predict_proba(Xv)[:, 1])) if yv.any() else 0.0
            tried.append({"kind": kind, "params": params, "val_average_precision": round(ap, 4)})
            say(f"  {head}: {kind} {params}: validation average precision {ap:.3f}", flush=True)
            if best is None or ap > best[0] + 1e-12:
                best = (ap, kind, params, clf)
        ap, kind, params, clf = best
        heads[head] = clf
        p = np.zeros(len(va["X"]))
        with threads.limit(limits=1, user_api="openmp"):
            p[wv] = clf.predict_proba(Xv)[:, 1]
        best_rule = None
        for persist in PERSIST:  # the decision needs `persist` consecutive blocks over the threshold
            pr = persisted(p, wv, va["spans"], persist)
            if head == "start":
                th, ev = choose_start_threshold(*_start_events(va, pr))
                score = ev["takeover_hit_rate"] - ev["pause_takeover_rate"]
            else:
                th, ev = choose_stop_threshold(*_stop_events(va, pr))
                score = ev["event_f1"]
            if best_rule is None or score > best_rule[0] + 1e-12:
                best_rule = (score, persist, th, {**ev, "persist_blocks": persist})
        _, persist, th, ev = best_rule
        pred = (p[wv] >= th).astype(int)
        neg, pos = ("hold", "speak") if head == "start" else ("continue", "stop")
        acc = {neg: round(float((pred[yv == 0] == 0).mean()), 4) if (yv == 0).any() else None,
               pos: round(float((pred[yv == 1] == 1).mean()), 4) if (yv == 1).any() else None}
        counts = {neg: int((yv == 0).sum()), pos: int((yv == 1).sum())}
        selected[head] = {"kind": kind, "params": params, "threshold": th, "persist": persist}
        report[head] = {"tried": tried, "val_average_precision": round(ap, 4), "events": ev,
                        "val_accuracy_per_class": acc, "val_frames_per_class": counts,
                        "train_frames_per_class": {neg: int((yt == 0).sum()), pos: int((yt == 1).sum())}}
        say(f"  {head}: chose {kind} {params}, threshold {th:g}; validation per-class accuracy {acc} "
            f"(frames {counts}); events {ev}", flush=True)
    meta = {
        "features": cfg.to_dict(), "feature_names": FeatureStream.names(cfg), "features_version": FEATURES_VERSION,
        "thresholds": {h: selected[h]["threshold"] for h in selected},
        "persist": {h: selected[h]["persist"] for h in selected}, "selected": selected, "validation": report,
        "targets": {"start_lead_blocks": START_LEAD, "stop_before_blocks": STOP_BEFORE},
        "data": {"train": {**_corpus_id(data), "shard_stride": stride, "train_blocks": int(len(tr["X"]))},
                 "val": _corpus_id(val_data)}, "seed": SEED,
        "versions": _versions(),
    }
    save_model(out, heads, meta)
    total = time.perf_counter() - t0
    say(f"saved {out} (features {t_feat:.1f} s, total {total:.1f} s)", flush=True)
    return {**meta, "timing": {"features_s": round(t_feat, 2), "total_s": round(total, 2)}, "out": str(out)}


def _corpus_id(path: str | Path) -> dict[str, Any]:
    import hashlib

    from datagen.corpus import Corpus, CorpusError

    p = Path(path)
    manifest = p / "manifest.jsonl"
    if not manifest.is_file():
        Corpus(p)  # the corpus reader's one-line error
        raise CorpusError(f"{manifest}: missing")
    try:
        stats_split = __import__("json").loads((p / "stats.json").read_text()).get("split")
    except (OSError, ValueError):
        stats_split = None
    return {"name": p.name, "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()[:16],
            "split": stats_split}


def _versions() -> dict[str, str]:
    import librosa
    import sklearn

    return {"scikit-learn": sklearn.__version__, "librosa": librosa.__version__, "numpy": np.__version__}
