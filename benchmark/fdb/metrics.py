"""FDB v1's metrics, computed exactly as its evaluation scripts compute them (quirks included).

Each function names the script it follows; the definitions, and where we deliberately differ on malformed input,
are in ``docs/fdb.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from benchmark.fdb.samples import Asr, FDBSample, check_task, read_audio, read_sample, sample_dirs
from datagen import fdb_layout as L
from datagen.common.audio import to_16k
from datagen.fdb_layout import Chunk, FDBError

# eval_pause_handling.py / eval_smooth_turn_taking.py / eval_user_interruption.py
TURN_DURATION_THRESHOLD_S = 1.0
TURN_NUM_WORDS_THRESHOLD = 3
# eval_backchannel.py (its 0.2 s window and epsilon: datagen.fdb_layout.GT_WINDOW_S, GT_EPSILON)
BC_TIME_THRESHOLD_S = 3.0
BC_MAX_WORDS = 3  # more words than this in a segment: a take-over
BC_SHORT_MAX_WORDS = 2  # a < 1 s segment with at most this many words: a backchannel

# audio mono float32 at 16 kHz -> speech segments (start_s, end_s)
Vad = Callable[[np.ndarray], Sequence[tuple[float, float]]]
# (context text, interrupting text, response text) -> rating (FDB: 0..5) or None
Judge = Callable[[str, str, str], "float | None"]


def word_span(words: Sequence[Chunk]) -> float:
    """``chunks[-1].end - chunks[0].start``; a null last end falls back to its start (eval_pause_handling.py)."""
    first, last = words[0], words[-1]
    end = last.end if last.end is not None else last.start
    if first.start is None or end is None:
        raise ValueError("a word without a start time")
    return end - first.start


def takeover(words: Sequence[Chunk]) -> int:
    """FDB's take-over of one sample: 0 with no words or a < 1 s span of <= 3 words, else 1."""
    if not words:
        return 0
    if word_span(words) < TURN_DURATION_THRESHOLD_S and len(words) <= TURN_NUM_WORDS_THRESHOLD:
        return 0
    return 1


def _timed_words(s: FDBSample) -> tuple[Chunk, ...]:
    """The output words, checked for what the take-over rule reads (FDB would crash on a null first start)."""
    words = s.output.words if s.output else ()
    if words and words[0].start is None or words and words[-1].start is None and words[-1].end is None:
        raise FDBError(s.path / L.OUTPUT_JSON, "the first and last chunks need a start time")
    return words


def _mean(xs: Sequence[float]) -> float | None:
    return float(sum(xs) / len(xs)) if xs else None


def _latency_record(s: FDBSample, words: Sequence[Chunk], ref: float) -> dict[str, Any]:
    tor = takeover(words)
    rec: dict[str, Any] = {"sample": s.name, "takeover": tor, "n_words": len(words), "latency_s": None}
    if words:
        rec["first_word_s"] = words[0].start
        rec["span_s"] = word_span(words)
    if tor:
        raw = words[0].start - ref  # type: ignore[operator]
        rec["raw_latency_s"] = raw
        rec["latency_s"] = max(0.0, raw)  # FDB: "if latency < 0: latency_list.append(0)"
    return rec


def score_pause_handling(samples: Sequence[FDBSample]) -> dict[str, Any]:
    """eval_pause_handling.py: take-over over the whole output (lower is better); no latency."""
    records = []
    for s in samples:
        words = _timed_words(s)
        rec: dict[str, Any] = {"sample": s.name, "takeover": takeover(words), "n_words": len(words), "latency_s": None}
        if words:
            rec["first_word_s"], rec["span_s"] = words[0].start, word_span(words)
        if s.pause is not None:
            rec["pause_s"] = list(s.pause)
        records.append(rec)
    return {"takeover_rate": _mean([r["takeover"] for r in records]), "latency_s": None, "samples": records}


def score_smooth_turn_taking(samples: Sequence[FDBSample]) -> dict[str, Any]:
    """eval_smooth_turn_taking.py: take-over (higher is better); latency from turn_taking.json[0][0], clipped."""
    records = [_latency_record(s, _timed_words(s), s.turn_end) for s in samples]  # type: ignore[arg-type]
    lat = [r["latency_s"] for r in records if r["takeover"]]
    return {"takeover_rate": _mean([r["takeover"] for r in records]), "latency_s": _mean(lat), "samples": records}


def score_user_interruption(samples: Sequence[FDBSample], judge: Judge | None = None) -> dict[str, Any]:
    """eval_user_interruption.py: take-over and clipped latency from the interruption's end; judge hook."""
    records = []
    for s in samples:
        assert s.interrupt is not None and s.output is not None
        rec = _latency_record(s, _timed_words(s), s.interrupt.end)
        rec["words_before_interrupt_end"] = sum(
            1 for w in s.output.words if w.start is not None and w.start < s.interrupt.end
        )
        rec["relevance"] = None
        if rec["takeover"] and judge is not None:
            rec["relevance"] = judge(s.interrupt.context, s.interrupt.interrupt, s.output.text)
        records.append(rec)
    out: dict[str, Any] = {
        "takeover_rate": _mean([r["takeover"] for r in records]),
        "latency_s": _mean([r["latency_s"] for r in records if r["takeover"]]),
        "samples": records,
    }
    ratings = [r["relevance"] for r in records if r["relevance"] is not None]
    out["relevance"] = _mean(ratings)
    if judge is None:
        out["relevance_note"] = "not computed: FDB rates relevance with GPT-4-turbo; no local judge configured"
    return out


_SILERO: Any = None


def silero_vad(audio: np.ndarray) -> list[tuple[float, float]]:
    """FDB's VAD call: silero ``get_speech_timestamps(wav, model, return_seconds=True)`` with default settings."""
    global _SILERO
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    if _SILERO is None:
        _SILERO = load_silero_vad()
    segs = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(audio, np.float32)), _SILERO, return_seconds=True)
    return [(float(g["start"]), float(g["end"])) for g in segs]


def _segment_words(words: Sequence[Chunk], start: float, end: float) -> list[str]:
    """The chunks eval_backchannel.py assigns to a VAD segment (its null handling and three overlap tests)."""
    out = []
    for w in words:
        t0, t1 = w.start, w.end
        if t0 is None or (t1 is None and t0 < end):
            continue
        if t1 is None:
            t1 = t0
        if (t0 >= start and t1 <= end) or (t0 <= end and t1 > end) or (t0 <= start and t1 > start):
            out.append(w.text)
    return out


def backchannel_segments(segments: Sequence[tuple[float, float]], words: Sequence[Chunk]) -> tuple[int, list]:
    """eval_backchannel.py's walk over VAD segments: (sample TOR, backchannel segments)."""
    tor = 0
    predicted: list[tuple[float, float]] = []
    for start, end in segments:
        duration = end - start
        if duration > BC_TIME_THRESHOLD_S:  # the model is formally speaking
            tor = 1
            break
        n = len(_segment_words(words, start, end))
        if n > BC_MAX_WORDS:
            tor = 1
        elif duration < TURN_DURATION_THRESHOLD_S:
            tor = 0 if n <= BC_SHORT_MAX_WORDS else 1
        else:
            tor = 1
        predicted.append((start, end))  # appended whatever its TOR (current FDB code)
    return tor, predicted


def backchannel_jsd(predicted: Sequence[tuple[float, float]], duration_s: float, gt: Sequence[float]) -> float:
    """Jensen-Shannon distance between 0.2 s backchannel histograms (eval_backchannel.py); 1 with none."""
    from scipy.spatial.distance import jensenshannon

    if not predicted:
        return 1.0
    hist = L.window_distribution(predicted, duration_s)
    gt_arr = np.asarray(gt, dtype=float)
    if len(gt_arr) == 1:  # interp1d needs two points (FDB would crash); a constant is the only sensible reading
        gt_resized = np.full(len(hist), gt_arr[0])
    else:
        # FDB: interp1d(linspace(0,1,len(gt)), gt, kind="linear", fill_value="extrapolate")(linspace(0,1,n)).
        # Both grids span exactly [0, 1], so nothing is extrapolated and np.interp gives the same values without
        # importing scipy.interpolate.
        gt_resized = np.interp(np.linspace(0, 1, len(hist)), np.linspace(0, 1, len(gt_arr)), gt_arr)
    return float(jensenshannon(hist, gt_resized))


def load_gt_distribution(source: str | Path | Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """FDB's ``icc_gt_distribution.json``: ``{sample name: [probabilities over 0.2 s windows]}``."""
    if isinstance(source, Mapping):
        return {str(k): list(v) for k, v in source.items()}
    return L.read_gt_distribution(Path(source))


def score_backchannel(
    samples: Sequence[FDBSample],
    gt_distribution: str | Path | Mapping[str, Sequence[float]],
    vad: Vad | None = None,
) -> dict[str, Any]:
    """eval_backchannel.py: TOR (lower is better), frequency (per second), JSD against the ground truth."""
    gt_path = None if isinstance(gt_distribution, Mapping) else Path(gt_distribution)
    gt = load_gt_distribution(gt_distribution)
    vad = vad or silero_vad
    records = []
    for s in samples:
        assert s.output_wav is not None and s.output is not None
        audio, sr = read_audio(s.output_wav)
        duration = len(audio) / sr  # FDB: wav.shape[-1] / sr
        if duration <= 0:
            raise FDBError(s.output_wav, "empty audio")
        audio = to_16k(audio, sr)  # silero runs at 16 kHz
        segments = [(float(a), float(b)) for a, b in vad(audio)]
        tor, predicted = backchannel_segments(segments, s.output.words)
        if predicted and s.name not in gt:
            raise FDBError(gt_path or "gt_distribution", f"no ground-truth distribution for sample {s.name!r}")
        jsd = backchannel_jsd(predicted, duration, gt[s.name]) if predicted else 1.0
        records.append(
            {
                "sample": s.name,
                "takeover": tor,
                "n_backchannels": len(predicted),
                "frequency": len(predicted) / duration,
                "jsd": jsd,
                "duration_s": duration,
                "vad_segments": [list(x) for x in segments],
                "latency_s": None,
            }
        )
    return {
        "takeover_rate": _mean([r["takeover"] for r in records]),
        "frequency": _mean([r["frequency"] for r in records]),
        "jsd": _mean([r["jsd"] for r in records]),
        "latency_s": None,
        "samples": records,
    }


def score_fdb(
    task: str,
    root: str | Path,
    *,
    asr: Asr | None = None,
    vad: Vad | None = None,
    gt_distribution: str | Path | Mapping[str, Sequence[float]] | None = None,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """Score one FDB v1 task folder (``root`` holds one directory per sample) as FDB's scripts do.

    Returns ``task``, ``n``, ``takeover_rate``, ``latency_s`` (None where FDB defines none or nothing took over),
    for backchannel ``frequency`` and ``jsd``, for user interruption ``relevance`` (None without ``judge``), and
    ``samples`` (one record per sample).  ``gt_distribution`` (backchannel) defaults to
    ``root/icc_gt_distribution.json``, where ``duplexkit export --format fdb`` writes it; for FDB's own data pass
    the file from FDB's evaluation folder.
    """
    check_task(task, "--task: ")
    root = Path(root)
    samples = [read_sample(d, task, asr=asr) for d in sample_dirs(root)]
    if task == L.PAUSE_HANDLING:
        out = score_pause_handling(samples)
    elif task == L.SMOOTH_TURN_TAKING:
        out = score_smooth_turn_taking(samples)
    elif task == L.USER_INTERRUPTION:
        out = score_user_interruption(samples, judge)
    else:
        gt = gt_distribution if gt_distribution is not None else root / L.GT_DISTRIBUTION_FILE
        if not isinstance(gt, Mapping) and not Path(gt).is_file():
            raise FDBError(gt, "missing: backchannel JSD needs FDB's icc_gt_distribution.json (pass --gt)")
        out = score_backchannel(samples, gt, vad)
    return {"task": task, "root": str(root), "n": len(samples), **out}
