"""On-policy pairs: every wrong outcome of a benchmark run becomes a pair whose prefix is what the model really heard
and played, whose rejected branch is the model's own tokens from the divergence block, and whose chosen branch is
the labelled behaviour.

The run directory is read **as files** (``run.json``, ``runs/<id>.json`` records, ``traces/<id>.npz``: the per-step
tokens and states, the text pieces, what the model heard and played, the item's window, probes and echo gain, as
``benchmark.runner.save_trace`` writes them): ``datagen`` never imports ``benchmark`` (ARCHITECTURE.md's rule), and a
file format is the contract between them.

=================== ================= ============================================ ======================== ========
outcome (record)    kind              divergence ``D``                              chosen                   span
=================== ================= ============================================ ======================== ========
missed              interruption      the corpus's causal decision after the probe ``<shift>`` (stop)       full
false_alarm         the probe's kind  the model's closing ``<shift>``              keep talking             1 block
pause_takeover      pause             its first speaking step in the pause          listen (hold)            full
early_takeover      end_of_turn       its first speaking step in the question       listen (hold)            to q end
self_interruption   echo_only         its closing ``<shift>`` after it answered     keep talking             1 block
no_takeover         end_of_turn       the corpus answer's opening ``<shift>``       ``<shift>``: take turn   <= 4
=================== ================= ============================================ ======================== ========

Models without a token stream (the baselines, the cascade) get their behaviour written as tokens: a step speaks when
the block it plays next has sound (gaps under :data:`HANGOVER_BLOCKS` bridged), a ``<shift>`` where that changes, and
its text pieces as text tokens from the step that emitted them; a model with token ids (``salmonn-omni``) is taken
verbatim, and its tokenizer must be the pair set's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from datagen.acoustics.echo import render_echo
from datagen.common.audio import decode_audio
from datagen.common.errors import one_line
from datagen.common.files import read_json_object
from datagen.schema import BLOCK_SAMPLES, SYNTH_DELAY_BLOCKS, frame_of, frame_start

from .labels import PairOptions, _fit, make_pair, silenced
from .record import Pair, PairsError, PairTokens

TRACE_DIR = "traces"
HANGOVER_BLOCKS = 6  # silences shorter than this (480 ms) inside a model's speech do not end its turn
SILENT_PEAK = 1e-4  # a played block quieter than this is silence


@dataclass
class Trace:
    meta: dict[str, Any]
    tokens: np.ndarray  # (steps,) int64, -1 where the model has no token stream
    states: list[str]
    heard: np.ndarray
    played: np.ndarray


def read_trace(path: Path) -> Trace:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            tokens = np.asarray(z["tokens"], np.int64)
            states = [str(s) for s in z["states"]]
            audio = decode_audio(z["audio"].tobytes(), str(path), sample_rate=None)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise PairsError(f"{path}: unreadable run trace ({one_line(exc)})") from None
    audio = audio.reshape(len(audio), -1)
    if audio.shape[1] != 2:
        raise PairsError(f"{path}: run trace audio must be stereo (heard, played)")
    return Trace(meta, tokens, states, audio[:, 0].copy(), audio[:, 1].copy())


@dataclass
class BenchRun:
    root: Path
    name: str
    definition: dict[str, Any]
    records: list[dict[str, Any]]

    def trace(self, rec: dict[str, Any]) -> Trace:
        return read_trace(self.root / TRACE_DIR / f"{_safe(rec['id'])}.npz")


def _safe(name: str) -> str:  # the run directory's file names (as benchmark.report.safe_name writes them)
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", name)


def open_run(root: str | Path, corpus_id: str, tokenizer: str | None) -> BenchRun:
    """A finished or partial bench run directory, checked against the corpus and the tokenizer (one line each)."""
    root = Path(root)
    pin = root / "run.json"
    if not pin.is_file() or not (root / "runs").is_dir():
        raise PairsError(f"--from-run {root}: not a benchmark run directory (no run.json and runs/)")
    definition = read_json_object(pin, PairsError)
    records = []
    for path in sorted((root / "runs").glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PairsError(f"{path}: unreadable run record ({one_line(exc)})") from None
        if isinstance(rec, dict) and "id" in rec:
            records.append(rec)
    if not records:
        raise PairsError(f"--from-run {root}: no item records in runs/ (the run has not started)")
    run = BenchRun(root, root.name, definition, sorted(records, key=lambda r: r["id"]))
    for rec in run.records:  # the first traced record tells the corpus and the tokenizer
        if rec.get("failure"):
            continue
        path = root / TRACE_DIR / f"{_safe(rec['id'])}.npz"
        if not path.is_file():
            raise PairsError(f"--from-run {root}: no trace for {rec['id']} (a run made before traces were recorded: "
                             "run it again into a new --out)")
        meta = run.trace(rec).meta
        if meta.get("corpus_id") != corpus_id:
            raise PairsError(f"--from-run {root}: a run on corpus {meta.get('corpus_id')!r}, not on --data "
                             f"({corpus_id})")
        if meta.get("tokenizer") and tokenizer and meta["tokenizer"] != tokenizer:
            raise PairsError(f"--from-run {root}: the model's tokens are of tokenizer {meta['tokenizer']!r}, the pair "
                             f"set's is {tokenizer!r} (use --model-config of that model)")
        break
    return run


# ------------------------------------------------------------------------------------------------------------------
def wrong_outcome(rec: dict[str, Any]) -> str | None:
    """The record's wrong outcome (one per item, the most specific first), None when it was right."""
    if rec.get("failure"):
        return None
    fam = rec.get("family")
    if fam == "reactive":
        return rec.get("outcome") if rec.get("outcome") in ("missed", "false_alarm") else None
    if fam == "pause" and rec.get("pause_takeover"):
        return "pause_takeover"
    if fam in ("answer", "pause", "long_turn") and rec.get("early_takeover"):
        return "early_takeover"
    if fam == "answer" and rec.get("self_interrupt"):
        return "self_interruption"
    if fam in ("answer", "pause") and rec.get("takeover") == 0:
        return "no_takeover"
    return None


def right_outcome(rec: dict[str, Any]) -> str | None:
    """For ``keep`` pairs: the record's right outcome, None when it was wrong or tells nothing."""
    if rec.get("failure") or wrong_outcome(rec) is not None:
        return None
    fam = rec.get("family")
    if fam == "reactive" and rec.get("outcome") in ("caught", "continued"):
        return f"keep:{rec['outcome']}"
    if fam == "pause" and rec.get("pause_takeover") == 0:
        return "keep:held"
    if fam == "answer" and rec.get("takeover") == 1:
        return "keep:took_turn"
    return None


def model_tokens(tr: Trace, tk: PairTokens) -> tuple[np.ndarray, bool]:
    """The model's tokens per step (recorded ids, or its behaviour written as tokens) and whether they are recorded."""
    steps = len(tr.states)
    if steps and len(tr.tokens) == steps and (tr.tokens >= 0).all():
        return tr.tokens.copy(), True
    n = len(tr.played)
    peak = np.array([np.abs(tr.played[frame_start(k + 1): frame_start(k + 2)]).max(initial=0.0) if
                     frame_start(k + 1) < n else 0.0 for k in range(steps)])
    active = peak > SILENT_PEAK
    k = 0
    while k < steps:  # bridge short silences inside speech
        if not active[k] and k > 0 and active[k - 1]:
            j = k
            while j < steps and not active[j]:
                j += 1
            if j < steps and j - k < HANGOVER_BLOCKS:
                active[k:j] = True
            k = j
        else:
            k += 1
    tokens = np.full(steps, tk.think, np.int64)
    prev = False
    for k in range(steps):
        if active[k] != prev:
            tokens[k] = tk.shift
        prev = bool(active[k])
    cursor = 0
    for at, piece in tr.meta.get("text", []):
        cursor = max(cursor, frame_of(int(at)) - 1)
        for tid in tk.encode(" " + str(piece).strip()):
            while cursor < steps and (tokens[cursor] != tk.think or not active[cursor]):
                cursor += 1
            if cursor >= steps:
                break
            tokens[cursor] = tid
            cursor += 1
    return tokens, False


def _probe(meta: dict[str, Any], name: str | None = None, reactive: bool | None = None) -> list[dict[str, Any]]:
    return [p for p in meta.get("probes", []) if (name is None or p["name"] == name)
            and (reactive is None or bool(p.get("reactive")) == reactive)]


def run_pairs(run: BenchRun, records: Sequence[dict[str, Any]], corpus: Any, tk: PairTokens, bank: Any,
              opts: PairOptions, kinds: Sequence[str], skipped: dict[str, int], keep: bool = False) -> list[Pair]:
    """One pair per wrong outcome; with ``keep`` also one per right outcome ("keep" pairs: chosen = the model's own
    tokens, rejected = the typical failure there)."""
    out = []
    for rec in records:
        outcome = wrong_outcome(rec) or (right_outcome(rec) if keep else None)
        if outcome is None:
            continue
        pair = _pair_of(run, rec, outcome, corpus, tk, bank, opts, kinds)
        if pair is None:
            skipped[outcome] = skipped.get(outcome, 0) + 1
        elif pair is not False:
            out.append(pair)
    return out


KIND_OF = {"missed": "interruption", "pause_takeover": "pause", "early_takeover": "end_of_turn",
           "self_interruption": "echo_only", "no_takeover": "end_of_turn", "keep:caught": "interruption",
           "keep:held": "pause", "keep:took_turn": "end_of_turn"}
CUE_BLOCKS = 4  # a negative probe counts as heard this many blocks (320 ms) after it fired (keep pairs)
PAUSE_BLOCKS = 3  # an in-turn pause is this many blocks (240 ms) old when a keep pair's rejected branch shifts


def _pair_of(run: BenchRun, rec: dict[str, Any], outcome: str, corpus: Any, tk: PairTokens, bank: Any,
             opts: PairOptions, kinds: Sequence[str]) -> Pair | None | bool:
    kind = KIND_OF.get(outcome) or str(rec.get("probe") or "")  # false alarms / keep:continued: the probe's kind
    if kind not in kinds:
        return False
    tr = run.trace(rec)
    meta = tr.meta
    tokens, recorded = model_tokens(tr, tk)
    mode = np.asarray(tk.mode(tokens), np.int8)
    n = len(tokens)
    W, S = opts.span_blocks, min(opts.span_blocks, SYNTH_DELAY_BLOCKS)
    d = corpus.dialogue(meta["dialogue"])
    scene = d.scene
    gain = float(meta.get("echo_gain") or 0.0)

    def echo_of(seg: np.ndarray) -> np.ndarray:
        return render_echo(seg, scene, bank, gain) if gain else np.zeros(len(seg), np.float32)

    def recorded_audio(D: int, E: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = frame_start(D + 1), frame_start(E)
        return _fit(tr.heard[a:b], b - a), _fit(tr.played[a:b], b - a)

    def listening_audio(D: int, E: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = frame_start(D + 1), frame_start(E)
        return silenced(_fit(tr.heard[:b], b), _fit(tr.played[:b], b), a, b, echo_of)

    def first_speaking(lo: int, hi: int) -> int | None:
        return next((k for k in range(max(lo, 1), min(hi, n)) if mode[k]), None)

    def closing_after(lo: int) -> int | None:
        return next((k for k in range(max(lo, 1), n) if mode[k - 1] and not mode[k]), None)

    D = E = None
    chosen = rej_audio = ch_audio = rejected = None
    if outcome == "missed":
        probe = (_probe(meta, reactive=True) or [None])[0]
        if probe is None or meta.get("fired_at") is None:
            return None
        D = frame_of(int(meta["fired_at"]) + int(probe.get("decision_after") or 0))
        if not (1 <= D < n and mode[D - 1]):
            return None
        E = min(D + W, n)
        chosen = [tk.shift] + [tk.think] * (E - D - 1)
        ch_audio, rej_audio = listening_audio(D, E), recorded_audio(D, E)
    elif outcome in ("false_alarm", "self_interruption"):
        lo = frame_of(int(meta["fired_at"])) if outcome == "false_alarm" and meta.get("fired_at") is not None \
            else frame_of(int(meta.get("onset") or meta["question_end"])) + 1
        D = closing_after(lo)
        if D is None:
            return None
        E = D + 1
        chosen = [tk.think]  # keep talking (a speaking step with no text due); no audio of it exists
        ch_audio = rej_audio = recorded_audio(D, E)
    elif outcome in ("pause_takeover", "early_takeover"):
        if outcome == "pause_takeover":
            spans = [(frame_of(p["start"]) - SYNTH_DELAY_BLOCKS, frame_of(p["end"])) for p in _probe(meta, "user_pause")]
            hold_until = n  # the user speaks on after the pause: holding stays right
        else:
            q = (_probe(meta, "user_turn") or [{"start": 0}])[0]
            # holding is right only until the user is done: past the question's end the labelled behaviour is to
            # take the turn, so a chosen branch that held on there would teach answering late
            hold_until = frame_of(int(meta["question_end"]))
            spans = [(frame_of(q["start"]), hold_until)]
        D = next((k for lo, hi in spans for k in [first_speaking(lo, hi)] if k is not None), None)
        if D is None:
            return None
        E = min(D + W, n, hold_until)
        chosen = ([tk.shift] if mode[D - 1] else [tk.think]) + [tk.think] * (E - D - 1)
        ch_audio, rej_audio = listening_audio(D, E), recorded_audio(D, E)
    elif outcome == "no_takeover":
        ref = meta.get("reference") or []
        if not ref:
            return None
        D = frame_of(int(ref[0][0]) - int(meta["start"])) - SYNTH_DELAY_BLOCKS
        D = max(D, frame_of(int(meta["question_end"])))
        if not (1 <= D < n) or mode[D - 1]:
            return None
        E = min(D + S, n)
        chosen = [tk.shift] + [tk.think] * (E - D - 1)
        ch_audio = rej_audio = recorded_audio(D, E)
    elif outcome == "keep:caught":
        D = closing_after(frame_of(int(meta["fired_at"]))) if meta.get("fired_at") is not None else None
        if D is None:
            return None
        E = D + 1
        chosen, rejected = tokens[D:E], [tk.think]  # it stopped; the failure keeps talking (no audio of that)
        ch_audio = rej_audio = recorded_audio(D, E)
    elif outcome == "keep:continued":
        if meta.get("fired_at") is None:
            return None
        D = frame_of(int(meta["fired_at"])) + CUE_BLOCKS
        if not (1 <= D < n and mode[D - 1] and mode[D] and tokens[D] != tk.shift):
            return None
        E = next((k for k in range(D + 1, min(D + W, n)) if tokens[k] == tk.shift or not mode[k]), min(D + W, n))
        chosen, rejected = tokens[D:E], [tk.shift] + [tk.think] * (E - D - 1)
        ch_audio, rej_audio = recorded_audio(D, E), listening_audio(D, E)
    elif outcome == "keep:held":
        p = (_probe(meta, "user_pause") or [None])[0]
        if p is None:
            return None
        D = frame_of(int(p["start"])) + PAUSE_BLOCKS
        if not (1 <= D < n) or mode[D - 1]:
            return None
        E = D
        while E < min(D + S, n) and tokens[E] == tk.think:
            E += 1
        chosen, rejected = tokens[D:E], [tk.shift] + [tk.think] * (E - D - 1)
        ch_audio = rej_audio = recorded_audio(D, E)
    elif outcome == "keep:took_turn":
        D = next((k for k in range(max(1, frame_of(int(meta["question_end"])) - SYNTH_DELAY_BLOCKS), n)
                  if mode[k] and not mode[k - 1]), None)
        if D is None:
            return None
        E = min(D + W, n)
        chosen, rejected = tokens[D:E], [tk.think] * (E - D)
        ch_audio, rej_audio = recorded_audio(D, E), listening_audio(D, E)
    if D is None or E is None or E <= D:
        return None
    if outcome.startswith("keep:"):
        return make_pair(id=f"run:{run.name}/{rec['id']}", kind=kind, source=f"run:{run.name}/{rec['id']}",
                         dialogue=str(meta["dialogue"]), tokens_all=tokens, mode_all=mode, D=D, E=E, chosen=chosen,
                         rejected=rejected, mic=tr.heard, asst=tr.played, chosen_audio=ch_audio,
                         rejected_audio=rej_audio, opts=opts, tk=tk, echo_factor=float(meta.get("echo_factor", 1.0)),
                         outcome=outcome,
                         meta={"item": rec.get("item"), "run_id": rec["id"], "model": meta.get("model"),
                               "recorded_tokens": recorded, "item_start": meta.get("start"), "divergence_step": D,
                               "run": str(run.root), "keep": True})
    return make_pair(id=f"run:{run.name}/{rec['id']}", kind=kind, source=f"run:{run.name}/{rec['id']}",
                     dialogue=str(meta["dialogue"]), tokens_all=tokens, mode_all=mode, D=D, E=E, chosen=chosen,
                     rejected=tokens[D:E], mic=tr.heard, asst=tr.played, chosen_audio=ch_audio,
                     rejected_audio=rej_audio, opts=opts, tk=tk, echo_factor=float(meta.get("echo_factor", 1.0)),
                     outcome=outcome,
                     meta={"item": rec.get("item"), "run_id": rec["id"], "model": meta.get("model"),
                           "recorded_tokens": recorded, "item_start": meta.get("start"), "divergence_step": D,
                           "run": str(run.root)})


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = ["open_run", "run_pairs", "wrong_outcome", "right_outcome", "model_tokens", "read_trace", "Trace", "BenchRun"]
