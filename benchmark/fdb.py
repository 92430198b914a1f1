"""Full-Duplex-Bench v1 compatibility: read FDB sample directories and score them exactly as FDB's scripts do.

Why this exists: published numbers for Moshi, Freeze-Omni, dGSLM, Gemini, GPT-Realtime and PersonaPlex are FDB v1
numbers.  To put our models (and our synthetic scenarios, exported with ``duplexkit export --format fdb``) on the
same scale, we reproduce FDB's metrics to the letter, including its quirks, instead of our own (better-defined)
closed-loop metrics.  Where FDB's code and its paper (Lin et al. 2025, arXiv:2503.04721) differ, **we follow the
code** and say so below.

Source.  github.com/DanielLin94144/Full-Duplex-Bench; its v1 scripts now live in ``v1_v1.5/evaluation/`` (earlier
``evaluation/``) and the ASR step in ``v1_v1.5/get_transcript/asr.py`` (earlier ``get_transcript/asr.py``).  The
upstream evaluation files were not in our search index, so the definitions were matched line by line against
verbatim copies in forks: ``abePclWaseda/Full-Duplex-Bench@d951c42`` (``evaluation/eval_pause_handling.py``,
``eval_smooth_turn_taking.py``, ``eval_user_interruption.py``, the original v1 layout) and
``dorian-K/Full-Duplex-Bench@9e83641`` / ``ProfessionalGriefer/Full-Duplex-Bench@3ebd052``
(``v1_v1.5/evaluation/eval_backchannel.py``, two independent forks that agree), plus upstream
``get_transcript/asr.py@1d40caa`` for the ``output.json`` format.

Sample directory (one per sample, under ``<root>/``; FDB's ``--root_dir`` is the task folder):

* ``input.wav``: what the model heard (not read by the metrics);
* ``output.wav``: the model's time-synchronous output audio;
* ``output.json``: word timestamps of ``output.wav`` as FDB's ASR step writes them:
  ``{"text": "w1 w2", "chunks": [{"text": "w1", "timestamp": [start_s, end_s]}, ...]}`` (times in seconds from the
  start of ``output.wav``; for user interruption, asr.py transcribes only audio after the interruption's end and
  adds that offset back, so every word starts after it);
* ``pause.json`` (pause handling), ``turn_taking.json`` (smooth turn-taking), ``interrupt.json`` (user
  interruption: ``[{"timestamp": [start_s, end_s], "context": text, "interrupt": text}]``);
* backchannel: no per-sample annotation; the ground truth is one ``icc_gt_distribution.json`` for the task
  (``{sample_dir_name: [p_0, p_1, ...]}``, FDB ships it in its evaluation folder), see ``gt_distribution``.

Metrics (``TOR`` = take-over rate; ``T_DUR = 1 s``, ``T_WORDS = 3``):

**Take-over of one sample** (eval_pause_handling.py, eval_smooth_turn_taking.py, eval_user_interruption.py):
no chunks in ``output.json`` -> 0; else ``span = chunks[-1].end - chunks[0].start``; ``span < 1 s`` and
``len(chunks) <= 3`` -> 0 (a short backchannel-like blip is not a take-over); otherwise 1.  The paper speaks of
"the model starts speaking"; the code's rule on ASR words is what we implement.  A null end time (Whisper-style
ASR leaves it out on the last word) is replaced by that word's start; FDB does this in pause handling only and
would crash in the other two.

**Pause handling** (eval_pause_handling.py): ``takeover_rate`` = mean take-over over samples, computed on the
*whole* ``output.json`` (``pause.json`` is not read by FDB; the input ends at the end of the pause, so any
take-over is premature).  Lower is better.  FDB defines no latency here: ``latency_s`` is ``None``.

**Smooth turn-taking** (eval_smooth_turn_taking.py): take-over as above (higher is better); for take-overs,
``latency = chunks[0].start - turn_taking.json[0]["timestamp"][0]`` (FDB reads element 0 of the timestamp as the
end of the user's turn), negative latencies clipped to 0, ``latency_s`` = mean over take-overs only.

**User interruption** (eval_user_interruption.py): take-over as above on ``output.json``; for take-overs,
``latency = chunks[0].start - interrupt.json[0]["timestamp"][1]`` (end of the interruption), clipped at 0, mean
over take-overs.  FDB also asks GPT-4-turbo to rate relevance 0-5 for each take-over; that is out of scope here
unless a local ``judge`` callable is given (``relevance`` is ``None`` and reported as not computed otherwise).
FDB only averages latencies of take-overs that got a rating; as it retries until one parses, that is every
take-over.  FDB does not filter words before the interruption's end (its ASR step crops them away); we don't
either, but count them per sample (``words_before_interrupt_end``) so an uncropped ``output.json`` is visible.

**Backchannel** (v1_v1.5/evaluation/eval_backchannel.py): silero-VAD speech segments of ``output.wav`` (default
parameters, times in seconds rounded to 0.1 s); walking the segments in order: a segment longer than 3 s sets
TOR = 1 and stops the walk; otherwise its words are the chunks overlapping it (FDB's three overlap tests, chunks
with a null start, or a null end and start < segment end, skipped), the segment's TOR is 1 if > 3 words, else 0
if it is < 1 s with <= 2 words, else 1 -- and the segment is appended to the backchannel list *whatever its TOR*
(the current code; an earlier version emptied the list on a take-over segment).  The sample's TOR is the last
value assigned (the last segment walked, not "any"), 0 with no segments.  ``frequency`` = backchannel segments /
duration of output.wav (s).  JSD: 0.2 s bins over ``int(dur / 0.2) + 1`` windows, each segment counts in bins
``int(start/0.2) .. int(end/0.2)``, + 1e-10, normalised; the ground truth list is linearly interpolated onto
the same number of points (``np.linspace(0, 1, n)`` both sides) and ``scipy.spatial.distance.jensenshannon``
compares them -- note that is the Jensen-Shannon *distance* (square root of the divergence, natural log), which
the paper calls JSD.  No backchannel segments -> JSD = 1.  ``takeover_rate``, ``frequency``, ``jsd`` are means over
samples (FDB uses ``np.mean``).  FDB reads only sample folders whose names are all digits and crashes on a name
missing from the ground truth; we score every sample folder and raise :class:`FDBError` for a missing entry.

Other deliberate differences, none of which changes a number FDB would produce on a well-formed directory: FDB
skips folders without ``output.json`` silently (pause/turn-taking) and pairs files by listing order (a folder
without ``turn_taking.json`` shifts every later pair); we read per folder and raise :class:`FDBError` naming the
missing file.  Mean latency with no take-overs is ``None`` (FDB divides by zero).  ``output.wav`` at another rate
than 16 kHz is resampled for the VAD (FDB passes it at its own rate to a 16 kHz VAD, which mis-times it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import soundfile as sf

from datagen.common.audio import to_16k

TASKS = ("pause_handling", "smooth_turn_taking", "user_interruption", "backchannel")

# eval_pause_handling.py / eval_smooth_turn_taking.py / eval_user_interruption.py
TURN_DURATION_THRESHOLD_S = 1.0
TURN_NUM_WORDS_THRESHOLD = 3
# eval_backchannel.py
BC_WINDOW_S = 0.2
BC_EPSILON = 1e-10
BC_TIME_THRESHOLD_S = 3.0
BC_MAX_WORDS = 3  # more words than this in a segment: a take-over
BC_SHORT_MAX_WORDS = 2  # a < 1 s segment with at most this many words: a backchannel
GT_DISTRIBUTION_FILE = "icc_gt_distribution.json"

TASK_FILES = {
    "pause_handling": ("output.json",),
    "smooth_turn_taking": ("output.json", "turn_taking.json"),
    "user_interruption": ("output.json", "interrupt.json"),
    "backchannel": ("output.wav", "output.json"),
}


class FDBError(ValueError):
    """A missing or malformed file in an FDB directory; the message is one line that names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {' '.join(str(problem).split())}")


# ---------------------------------------------------------------------------------------------- sample loading


@dataclass(frozen=True)
class Word:
    """One ASR chunk of ``output.json``; ``end`` may be None (Whisper-style ASR drops the last word's end)."""

    text: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[Word, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``output.json`` FDB's asr.py would write for these words."""
        return {"text": self.text, "chunks": [{"text": w.text, "timestamp": [w.start, w.end]} for w in self.words]}


@dataclass(frozen=True)
class Interrupt:
    start: float
    end: float
    context: str
    interrupt: str


@dataclass
class FDBSample:
    """Everything one FDB sample directory holds that the metrics read (absent files are None)."""

    path: Path
    output: Transcript | None = None
    output_wav: Path | None = None
    input_wav: Path | None = None
    pause: tuple[float, float] | None = None  # pause.json[0]["timestamp"]
    turn_end: float | None = None  # turn_taking.json[0]["timestamp"][0]
    interrupt: Interrupt | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


# (audio mono float32, sample rate) -> words with times in seconds from the start of that audio
Asr = Callable[[np.ndarray, int], Sequence["Word | tuple[str, float, float]"]]
# audio mono float32 at 16 kHz -> speech segments (start_s, end_s)
Vad = Callable[[np.ndarray], Sequence[tuple[float, float]]]
# (context text, interrupting text, response text) -> rating (FDB: 0..5) or None
Judge = Callable[[str, str, str], "float | None"]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FDBError(path, "missing") from None
    except json.JSONDecodeError as exc:
        raise FDBError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FDBError(path, f"unreadable ({exc})") from None


def _number(value: Any, path: Path, what: str, nullable: bool = False) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FDBError(path, f"{what} must be a finite number, got {value!r}")
    return float(value)


def _timestamp(entry: Any, path: Path, what: str, nullable: bool = False) -> tuple[float | None, float | None]:
    ts = entry.get("timestamp") if isinstance(entry, dict) else None
    if not isinstance(ts, (list, tuple)) or len(ts) != 2:
        raise FDBError(path, f"{what} needs a 'timestamp': [start, end]")
    return _number(ts[0], path, f"{what} start", nullable), _number(ts[1], path, f"{what} end", nullable)


def parse_transcript(data: Any, path: Path) -> Transcript:
    """Validate FDB's ``output.json`` (``{"text", "chunks": [{"text", "timestamp": [s, e]}]}``)."""
    if not isinstance(data, dict) or not isinstance(data.get("chunks"), list):
        raise FDBError(path, "expected an object with a 'chunks' list (FDB's ASR output format)")
    words = []
    for i, chunk in enumerate(data["chunks"]):
        start, end = _timestamp(chunk, path, f"chunks[{i}]", nullable=True)
        text = chunk.get("text", "")
        if not isinstance(text, str):
            raise FDBError(path, f"chunks[{i}].text must be a string")
        words.append(Word(text, start, end))
    text = data.get("text", " ".join(w.text for w in words))
    if not isinstance(text, str):
        raise FDBError(path, "'text' must be a string")
    return Transcript(text, tuple(words))


def _first_entry(path: Path) -> dict[str, Any]:
    data = _load_json(path)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise FDBError(path, "expected a non-empty list of objects with a 'timestamp'")
    return data[0]


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 audio (channels averaged, as FDB's asr.py does) and its rate; FDBError if unreadable."""
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise FDBError(path, "missing") from None
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:
        raise FDBError(path, f"unreadable audio ({exc})") from None
    return audio.mean(axis=1).astype(np.float32), int(sr)


def _run_asr(asr: Asr, wav: Path, offset_s: float) -> Transcript:
    """Transcribe ``wav`` from ``offset_s`` on and shift times by it, as FDB's get_transcript/asr.py does."""
    audio, sr = read_audio(wav)
    start = int(offset_s * sr)
    words = []
    for w in asr(audio[start:], sr):
        text, s, e = (w.text, w.start, w.end) if isinstance(w, Word) else w
        words.append(Word(str(text), None if s is None else s + offset_s, None if e is None else e + offset_s))
    return Transcript(" ".join(w.text for w in words), tuple(words))


def read_sample(directory: str | Path, task: str | None = None, asr: Asr | None = None) -> FDBSample:
    """Load one FDB sample directory.

    With ``task``, the files that task's metric needs must be there (a missing one raises :class:`FDBError`);
    without it, whatever is present is loaded.  If ``output.json`` is missing but ``output.wav`` exists, ``asr``
    (if given) transcribes it -- for user interruption only after the interruption's end, as FDB does.
    """
    d = Path(directory)
    if not d.is_dir():
        raise FDBError(d, "not a sample directory")
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown FDB task {task!r} (known: {', '.join(TASKS)})")
    s = FDBSample(path=d)
    if (d / "input.wav").is_file():
        s.input_wav = d / "input.wav"
    if (d / "output.wav").is_file():
        s.output_wav = d / "output.wav"
    if (d / "pause.json").exists():
        e = _first_entry(d / "pause.json")
        s.pause = _timestamp(e, d / "pause.json", "pause.json[0]")  # type: ignore[assignment]
    if (d / "turn_taking.json").exists() or task == "smooth_turn_taking":
        e = _first_entry(d / "turn_taking.json")
        s.turn_end = _timestamp(e, d / "turn_taking.json", "turn_taking.json[0]")[0]
    if (d / "interrupt.json").exists() or task == "user_interruption":
        p = d / "interrupt.json"
        e = _first_entry(p)
        start, end = _timestamp(e, p, "interrupt.json[0]")
        context, interrupt = e.get("context", ""), e.get("interrupt", "")
        if not isinstance(context, str) or not isinstance(interrupt, str):
            raise FDBError(p, "'context' and 'interrupt' must be strings")
        s.interrupt = Interrupt(start, end, context, interrupt)  # type: ignore[arg-type]
    if (d / "output.json").exists():
        s.output = parse_transcript(_load_json(d / "output.json"), d / "output.json")
    elif task is not None and "output.json" in TASK_FILES[task]:
        if asr is not None and s.output_wav is not None:
            offset = s.interrupt.end if task == "user_interruption" and s.interrupt else 0.0
            s.output = _run_asr(asr, s.output_wav, offset)
        elif s.output_wav is not None:
            raise FDBError(
                d / "output.json",
                "missing: FDB scores ASR word timestamps of output.wav; run FDB's get_transcript/asr.py or pass --asr",
            )
        else:
            raise FDBError(d / "output.json", "missing (and no output.wav to transcribe)")
    if task is not None and "output.wav" in TASK_FILES[task] and s.output_wav is None:
        raise FDBError(d / "output.wav", "missing")
    return s


def sample_dirs(root: str | Path) -> list[Path]:
    """The sample folders of a task folder: every non-hidden subdirectory, sorted by name."""
    r = Path(root)
    if not r.is_dir():
        raise FDBError(r, "not a directory (pass the task folder, e.g. .../smooth_turn_taking)")
    dirs = sorted(p for p in r.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not dirs:
        raise FDBError(r, "no sample directories")
    return dirs


# ---------------------------------------------------------------------------------------------- metrics


def word_span(words: Sequence[Word]) -> float:
    """``chunks[-1].end - chunks[0].start``; a null last end falls back to its start (eval_pause_handling.py)."""
    first, last = words[0], words[-1]
    end = last.end if last.end is not None else last.start
    if first.start is None or end is None:
        raise ValueError("a word without a start time")
    return end - first.start


def takeover(words: Sequence[Word]) -> int:
    """FDB's take-over of one sample: 0 with no words or a < 1 s span of <= 3 words, else 1."""
    if not words:
        return 0
    if word_span(words) < TURN_DURATION_THRESHOLD_S and len(words) <= TURN_NUM_WORDS_THRESHOLD:
        return 0
    return 1


def _timed_words(s: FDBSample) -> tuple[Word, ...]:
    """The output words, checked for what the take-over rule reads (FDB would crash on a null first start)."""
    words = s.output.words if s.output else ()
    if words and words[0].start is None or words and words[-1].start is None and words[-1].end is None:
        raise FDBError(s.path / "output.json", "the first and last chunks need a start time")
    return words


def _mean(xs: Sequence[float]) -> float | None:
    return float(sum(xs) / len(xs)) if xs else None


def _latency_record(s: FDBSample, words: Sequence[Word], ref: float) -> dict[str, Any]:
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


def _segment_words(words: Sequence[Word], start: float, end: float) -> list[str]:
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


def backchannel_segments(segments: Sequence[tuple[float, float]], words: Sequence[Word]) -> tuple[int, list]:
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
    bins = np.zeros(int(duration_s / BC_WINDOW_S) + 1)
    for start, end in predicted:
        for i in range(int(start / BC_WINDOW_S), int(end / BC_WINDOW_S) + 1):
            if i < len(bins):
                bins[i] += 1
    hist = (bins + BC_EPSILON) / np.sum(bins + BC_EPSILON)
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
    path = Path(source)
    data = _load_json(path)
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) for v in data.values()
    ):
        raise FDBError(path, "expected {sample name: [non-empty list of numbers]}")
    return {str(k): [float(x) for x in v] for k, v in data.items()}


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
    if task not in TASKS:
        raise ValueError(f"--task: unknown FDB task {task!r} (known: {', '.join(TASKS)})")
    root = Path(root)
    samples = [read_sample(d, task, asr=asr) for d in sample_dirs(root)]
    if task == "pause_handling":
        out = score_pause_handling(samples)
    elif task == "smooth_turn_taking":
        out = score_smooth_turn_taking(samples)
    elif task == "user_interruption":
        out = score_user_interruption(samples, judge)
    else:
        gt = gt_distribution if gt_distribution is not None else root / GT_DISTRIBUTION_FILE
        if not isinstance(gt, Mapping) and not Path(gt).is_file():
            raise FDBError(gt, "missing: backchannel JSD needs FDB's icc_gt_distribution.json (pass --gt)")
        out = score_backchannel(samples, gt, vad)
    return {"task": task, "root": str(root), "n": len(samples), **out}


# ---------------------------------------------------------------------------------------------- CLI


def _import_callable(spec: str, what: str) -> Callable[..., Any]:
    """``module:attr`` -> the callable (a factory with no arguments is called once to build it)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"--{what}: expected module:attribute, got {spec!r}")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--{what}: cannot import {spec!r} ({exc})") from None
    return obj() if isinstance(obj, type) else obj


def format_summary(result: Mapping[str, Any]) -> str:
    def f(x: Any, unit: str = "") -> str:
        return "n/a" if x is None else f"{x:.3f}{unit}"

    line = f"FDB v1 {result['task']}: n={result['n']}  TOR={f(result['takeover_rate'])}"
    if result["task"] in ("smooth_turn_taking", "user_interruption"):
        line += f"  latency={f(result['latency_s'], ' s')}"
    if result["task"] == "backchannel":
        line += f"  freq={f(result['frequency'], '/s')}  JSD={f(result['jsd'])}"
    if result["task"] == "user_interruption":
        line += f"  relevance={f(result.get('relevance'))}"
        if result.get("relevance_note"):
            line += f" ({result['relevance_note']})"
    return line


def cmd_fdb(args: argparse.Namespace) -> int:
    asr = _import_callable(args.asr, "asr") if args.asr else None
    result = score_fdb(args.task, args.root, asr=asr, gt_distribution=args.gt)
    if not args.json_only:
        print(format_summary(result))
    print(json.dumps(result))
    return 0


def add_fdb_command(bench_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``duplexkit bench fdb --task T --root DIR``: a summary line, then one JSON object as the last line."""
    p = bench_subparsers.add_parser("fdb", help="score Full-Duplex-Bench v1 sample directories as FDB's scripts do")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--root", required=True, help="the task folder: one directory per sample")
    p.add_argument("--json-only", action="store_true", help="print only the JSON result line")
    p.add_argument("--asr", help="module:callable (audio, sample_rate) -> [(word, start_s, end_s)] for missing output.json")
    p.add_argument("--gt", help=f"backchannel ground truth (default: ROOT/{GT_DISTRIBUTION_FILE})")
    p.set_defaults(func=cmd_fdb)
    return p
