"""The ``turn_classifier`` baseline: a scikit-learn classifier on frame features decides, per 80 ms block, whether
to take the turn, keep listening, keep talking or stop, and speaks the question bank's answers.

It is the classical stack of the issue-14 design card, with no LLM in the loop: what the corpus's frame labels
teach a model that only sees signal features.  Expect it to take turns and hold through pauses from energy, pitch
and silence timing, and to fail where words matter (a context-dependent interruption sounds like a distractor).

Features (:class:`FeatureStream`, one implementation for training and for the adapter, so the two agree exactly):
per block and per channel (the ``mic`` it hears, and its ``own`` output as played in that block) computed on the
block and the block before it (a fixed 160 ms analysis window ending at the block's end, never later audio):

* energy: RMS dB of the block and the loudest of its four 20 ms sub-frames;
* spectral flux (mean positive log-magnitude change between 32 ms STFT frames, hop 16 ms) and spectral centroid;
* pitch: librosa's YIN f0 on 64 ms frames (hop 16 ms), with a voicing measure (normalised autocorrelation at the
  YIN period); log2 f0 of the voiced frames, the voiced fraction and the best periodicity;

plus their recent history: the raw features at lags 0-3 blocks (320 ms), mic energy mean/max over 640 ms and
2 s, the mic energy above its running 5 s noise floor, blocks since mic voice activity ended and the length of the
last active run, the last voiced pitch and its slope over the last voiced blocks (held through silence, so a
pause still "remembers" how the speech ended), how long its own output has been active or silent, and the mic
level relative to its own recent level (its echo).

Decisions (two heads, one per mode, see :mod:`benchmark.train_classifier` for the labels): while listening, the
*start* head's probability above its threshold (chosen on a validation corpus) takes the turn; while talking,
the *stop* head's probability above its threshold stops at once (silent from the next block: the protocol's
immediate barge-in); otherwise it holds (keeps listening) or continues (keeps talking).  It only starts again
after new speech on the mic since its own voice stopped.

What it says: at a take-over it transcribes what it heard since it last spoke (``asr``, pocketsphinx with the
bank LM, as ``vad_cascade``), answers with the nearest bank question's scripted response (the cascade's
``echo`` responder, not an LLM; a generic line when nothing is heard) and reads it with espeak-ng in the
assistant voice, its words on the text stream.  ``asr=none`` skips the transcription (always the generic line).

Options (``--model-arg``): ``path`` (required: the folder ``duplexkit bench train-classifier`` wrote),
``asr`` (pocketsphinx | none | another benchmark ASR), ``start_threshold`` / ``stop_threshold`` (override the
trained ones), ``max_sentences`` (of the bank response; default all).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.protocol import ModelInfo, SessionInfo, StepOutput
from datagen.common.errors import DuplexkitError, one_line
from datagen.schema import BLOCK_SAMPLES as BLOCK
from datagen.schema import SAMPLE_RATE

FEATURES_VERSION = "1"
MODEL_FILE = "model.pkl"
META_FILE = "model.json"
FORMAT = "duplexkit.turn_classifier"
FALLBACK_REPLY = ("Let me think about that for a moment. I am not sure I heard the whole question, so here is what "
                  "I can tell you about it, and please ask again if you meant something else.")
_EPS = 1e-9


class ClassifierError(DuplexkitError, RuntimeError, ValueError):
    """A turn_classifier model folder that cannot be used (missing, damaged, another version); one line."""


def require_libs() -> None:
    """scikit-learn and librosa, or one line saying how to get them."""
    missing = []
    for mod, pkg in (("sklearn", "scikit-learn"), ("librosa", "librosa")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(pkg)
    if missing:
        raise ClassifierError(f"turn_classifier needs {' and '.join(missing)} (pip install {' '.join(missing)}, "
                              "or reinstall duplexkit)")


# ------------------------------------------------------------------------------------------------------------------
# Features
# ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureConfig:
    """What :class:`FeatureStream` computes (stored with a trained model; a mismatch refuses to load)."""

    version: str = FEATURES_VERSION
    n_fft: int = 512
    hop: int = 256
    yin_frame: int = 1024
    fmin: float = 70.0
    fmax: float = 400.0
    voicing: float = 0.6  # periodicity above which a frame is voiced
    lags: int = 4  # raw features of this many blocks (lag 0..lags-1)
    short_blocks: int = 8  # 640 ms
    long_blocks: int = 25  # 2 s
    floor_blocks: int = 64  # ~5 s noise-floor window
    active_db: float = 10.0  # mic voice activity: voiced and this far above the floor
    own_active_db: float = -50.0  # own output active (it is clean: an absolute level is enough)
    cap_blocks: int = 100  # counters saturate here (8 s)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureConfig":
        return cls(**d)


RAW_NAMES = ("e_mean", "e_max", "flux", "centroid", "logf0", "voiced", "periodicity")


def _db(x: np.ndarray) -> float:
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) + _EPS))


_SILENT = np.array([10.0 * np.log10(_EPS)] * 2 + [0.0] * 5, np.float64)


def raw_block_features(window: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The per-block features of one channel: ``window`` is the previous block and the current one (2 x 1280
    samples, ending at the current block's end).  Only this window is read, so block k's features depend on
    samples [1280(k-1), 1280(k+1)) alone."""
    import librosa

    x = np.asarray(window, np.float32)
    if not x.any():  # digital silence (its own output between turns): the values the code below gives, fast
        return _SILENT.copy()
    cur = x[BLOCK:]
    sub = cur.reshape(4, BLOCK // 4)
    e_mean = _db(cur)
    e_max = max(_db(s) for s in sub)
    mag = np.abs(librosa.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop, center=False, window="hann"))
    logmag = np.log1p(100.0 * mag)
    n_cur = BLOCK // cfg.hop  # STFT frames ending inside the current block
    d = np.maximum(logmag[:, 1:] - logmag[:, :-1], 0.0)
    flux = float(d[:, -n_cur:].mean())
    m = mag[:, -n_cur:]
    freqs = np.linspace(0.0, SAMPLE_RATE / 2000.0, mag.shape[0])  # kHz
    tot = m.sum(axis=0)
    centroid = float(np.mean(np.where(tot > _EPS, (freqs[:, None] * m).sum(axis=0) / np.maximum(tot, _EPS), 0.0)))
    f0 = librosa.yin(x, fmin=cfg.fmin, fmax=cfg.fmax, sr=SAMPLE_RATE, frame_length=cfg.yin_frame,
                     hop_length=cfg.hop, center=False)
    n_yin = len(f0)
    first = n_yin - BLOCK // cfg.hop + 1  # frames whose centre lies in the current block
    logf0s, per = [], []
    for i in range(max(first, 0), n_yin):
        fr = x[i * cfg.hop:i * cfg.hop + cfg.yin_frame].astype(np.float64)
        lag = int(round(SAMPLE_RATE / float(f0[i])))
        a, b = fr[:-lag], fr[lag:]
        den = np.sqrt(np.dot(a, a) * np.dot(b, b))
        r = float(np.dot(a, b) / den) if den > 1e-12 else 0.0
        per.append(r)
        if r >= cfg.voicing:
            logf0s.append(float(np.log2(f0[i])))
    voiced = len(logf0s) / max(len(per), 1)
    logf0 = float(np.median(logf0s)) if logf0s else 0.0
    return np.array([e_mean, e_max, flux, centroid, logf0, voiced, max(per) if per else 0.0], np.float64)


def _slope(values: list[float]) -> float:
    """Least-squares slope per step (closed form: no BLAS call, whose threads stall a busy machine)."""
    n = len(values)
    if n < 2:
        return 0.0
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    return float(np.sum(t * (np.asarray(values, np.float64) - np.mean(values))) / np.sum(t * t))


class FeatureStream:
    """Causal, streaming features: :meth:`push` one mic block and the own-output block played at the same time,
    get that block's feature vector.  Training runs the same class over whole dialogues (:func:`stream_features`),
    so training and the adapter compute identical features."""

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        self.cfg = cfg or FeatureConfig()
        c = self.cfg
        self._prev = {"mic": np.zeros(BLOCK, np.float32), "own": np.zeros(BLOCK, np.float32)}
        keep = max(c.lags, c.long_blocks, c.floor_blocks)
        self._keep = keep
        self._mic: list[np.ndarray] = []
        self._own: list[np.ndarray] = []
        self.k = 0
        self._since_active = c.cap_blocks
        self._run = 0
        self._last_run = 0
        self._voiced_f0: list[float] = []  # last voiced log f0 per voiced block (a few)
        self._f0_sum, self._f0_n = 0.0, 0
        self._own_on = 0
        self._own_off = c.cap_blocks
        self.mic_active = False
        self._echo: list[float] = []  # mic - own level (dB) over recent blocks where its own voice was on
        self._excess: list[float] = []

    @staticmethod
    def names(cfg: FeatureConfig | None = None) -> list[str]:
        c = cfg or FeatureConfig()
        out = [f"{ch}_{n}_lag{lag}" for lag in range(c.lags) for ch in ("mic", "own") for n in RAW_NAMES]
        out += ["mic_emax_mean_short", "mic_emax_max_short", "mic_emax_mean_long", "mic_emax_max_long",
                "mic_floor", "mic_rel_db", "mic_since_active", "mic_last_run", "mic_run", "mic_active_frac_long",
                "last_logf0", "logf0_slope", "last_logf0_rel", "own_on_blocks", "own_off_blocks", "own_emax_max4",
                "mic_minus_own_db", "echo_ref_db", "mic_over_echo_db", "mic_over_echo_max4"]
        return out

    def push(self, mic_block: np.ndarray, own_block: np.ndarray) -> np.ndarray:
        c = self.cfg
        mic_block = np.nan_to_num(np.asarray(mic_block, np.float32).reshape(-1))
        own_block = np.nan_to_num(np.asarray(own_block, np.float32).reshape(-1))
        if mic_block.size != BLOCK or own_block.size != BLOCK:
            raise ValueError(f"turn_classifier features: blocks are {BLOCK} samples, got {mic_block.size}/{own_block.size}")
        rm = raw_block_features(np.concatenate([self._prev["mic"], mic_block]), c)
        ro = raw_block_features(np.concatenate([self._prev["own"], own_block]), c)
        self._prev = {"mic": mic_block, "own": own_block}
        self._mic.append(rm)
        self._own.append(ro)
        if len(self._mic) > self._keep:
            del self._mic[0], self._own[0]
        mic = np.stack(self._mic)
        own = np.stack(self._own)
        feats: list[float] = []
        zero = np.zeros(len(RAW_NAMES))
        for lag in range(c.lags):
            i = len(self._mic) - 1 - lag
            feats += list(mic[i] if i >= 0 else zero) + list(own[i] if i >= 0 else zero)
        emax = mic[:, 1]
        short, long_ = emax[-c.short_blocks:], emax[-c.long_blocks:]
        floor = float(np.min(mic[-c.floor_blocks:, 0]))
        rel = float(rm[0] - floor)
        active = bool(rm[5] >= 0.5 and rm[1] - floor >= c.active_db)
        self.mic_active = active
        if active:
            self._run += 1
            self._since_active = 0
        else:
            if self._run:
                self._last_run = self._run
            self._run = 0
            self._since_active = min(self._since_active + 1, c.cap_blocks)
        act_long = np.mean((mic[-c.long_blocks:, 5] >= 0.5) & (mic[-c.long_blocks:, 1] - floor >= c.active_db))
        if rm[5] > 0 and rm[4] > 0 and active:
            self._voiced_f0.append(float(rm[4]))
            self._voiced_f0 = self._voiced_f0[-5:]
            self._f0_sum += float(rm[4])
            self._f0_n += 1
        last_f0 = self._voiced_f0[-1] if self._voiced_f0 else 0.0
        slope = _slope(self._voiced_f0)
        rel_f0 = last_f0 - self._f0_sum / self._f0_n if self._f0_n else 0.0
        own_active = ro[1] > c.own_active_db
        if own_active:
            self._own_on = min(self._own_on + 1, c.cap_blocks)
            self._own_off = 0
        else:
            self._own_on = 0
            self._own_off = min(self._own_off + 1, c.cap_blocks)
        own_max4 = float(np.max(own[-4:, 1]))
        # A double-talk measure: the mic's level over its own voice, relative to the typical ratio while it talked
        # (its echo gain, learnt per session from the median of the last long_blocks talking blocks).
        ratio = float(rm[0] - float(np.max(own[-4:, 0])))
        echo_ref = float(np.median(self._echo)) if self._echo else 0.0
        excess = ratio - echo_ref if own_active and self._echo else 0.0
        self._excess = (self._excess + [excess])[-4:]
        if own_active:
            self._echo = (self._echo + [ratio])[-c.long_blocks:]
        feats += [float(short.mean()), float(short.max()), float(long_.mean()), float(long_.max()), floor, rel,
                  float(self._since_active), float(min(self._last_run, c.cap_blocks)), float(min(self._run, c.cap_blocks)),
                  float(act_long), last_f0, slope, rel_f0, float(self._own_on), float(self._own_off), own_max4,
                  float(rm[1] - own_max4), echo_ref, excess, float(max(self._excess))]
        self.k += 1
        return np.asarray(feats, np.float64)


def stream_features(mic: np.ndarray, own: np.ndarray, cfg: FeatureConfig | None = None) -> np.ndarray:
    """(blocks, features) for a whole signal pair, by pushing it through one :class:`FeatureStream` block by block
    (the last partial block is zero-padded, as the harness pads items)."""
    n = -(-max(len(mic), len(own)) // BLOCK)
    m = np.zeros(n * BLOCK, np.float32)
    o = np.zeros(n * BLOCK, np.float32)
    m[:len(mic)] = mic
    o[:len(own)] = own
    fs = FeatureStream(cfg)
    rows = [fs.push(m[k * BLOCK:(k + 1) * BLOCK], o[k * BLOCK:(k + 1) * BLOCK]) for k in range(n)]
    return np.stack(rows) if rows else np.zeros((0, len(FeatureStream.names(cfg))))


# ------------------------------------------------------------------------------------------------------------------
# The model file
# ------------------------------------------------------------------------------------------------------------------
def save_model(out: str | Path, heads: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write ``model.pkl`` (the fitted heads) and ``model.json`` (format, feature config, thresholds, chosen
    hyperparameters, validation numbers and the pickle's sha256) into ``out``, atomically (the folder appears
    whole or not at all)."""
    from datagen.common.files import atomic_directory

    blob = pickle.dumps(heads, protocol=4)
    meta = {**meta, "format": FORMAT, "sha256": hashlib.sha256(blob).hexdigest()}
    with atomic_directory(out, replace=True) as tmp:
        (tmp / MODEL_FILE).write_bytes(blob)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return Path(out)


def load_model_dir(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(heads, meta) from a folder :func:`save_model` wrote; :class:`ClassifierError` (one line naming the file)
    when it is missing, damaged, or written by another feature version.  The pickle is only opened after its
    sha256 matches model.json (a trained folder is code: load only folders you made)."""
    path = Path(path)
    meta_path, blob_path = path / META_FILE, path / MODEL_FILE
    if not path.is_dir():
        raise ClassifierError(f"{path}: no such turn_classifier model folder (train one with "
                              "`duplexkit bench train-classifier --data TRAIN --val-data VAL --out DIR`)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ClassifierError(f"{meta_path}: unreadable ({one_line(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ClassifierError(f"{meta_path}: not a turn_classifier model file (format {FORMAT!r} expected)")
    feats = meta.get("features", {})
    if not isinstance(feats, dict) or feats.get("version") != FEATURES_VERSION:
        raise ClassifierError(f"{meta_path}: features version {feats.get('version') if isinstance(feats, dict) else None!r} "
                              f"is not this duplexkit's ({FEATURES_VERSION}); train it again")
    try:
        blob = blob_path.read_bytes()
    except OSError as exc:
        raise ClassifierError(f"{blob_path}: unreadable ({exc.strerror or exc})") from None
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise ClassifierError(f"{blob_path}: damaged (its sha256 does not match {META_FILE})")
    require_libs()
    try:
        heads = pickle.loads(blob)
    except Exception as exc:  # noqa: BLE001 - an unpickling failure (other sklearn version) is one line
        raise ClassifierError(f"{blob_path}: cannot be loaded ({one_line(exc)}); train it again") from None
    if not isinstance(heads, dict) or not {"start", "stop"} <= set(heads):
        raise ClassifierError(f"{blob_path}: holds no start/stop heads")
    return heads, meta


# ------------------------------------------------------------------------------------------------------------------
# The adapter
# ------------------------------------------------------------------------------------------------------------------
_SHARED: dict[tuple, Any] = {}


def _shared(key: tuple, make):
    if key not in _SHARED:
        _SHARED[key] = make()
    return _SHARED[key]


class TurnClassifierModel:
    """The ``turn_classifier`` baseline (see the module docstring)."""

    def __init__(self, path: str | None = None, asr: str = "pocketsphinx", start_threshold: float | None = None,
                 stop_threshold: float | None = None, max_sentences: int = 20, min_speak_blocks: int = 2,
                 max_turn_s: float = 15.0, **unknown: Any) -> None:
        if unknown:
            raise ClassifierError(f"turn_classifier: unknown option {sorted(unknown)[0]!r} (known: path, asr, "
                                  "start_threshold, stop_threshold, max_sentences, min_speak_blocks, max_turn_s)")
        if not path:
            raise ClassifierError("turn_classifier: needs --model-arg path=DIR (a folder written by "
                                  "`duplexkit bench train-classifier`)")
        self.heads, self.meta = load_model_dir(path)
        from threadpoolctl import ThreadpoolController

        self.threads = ThreadpoolController()
        self.features = FeatureConfig.from_dict(self.meta["features"])
        th = self.meta.get("thresholds", {})
        persist = self.meta.get("persist", {})
        self.persist = {"start": int(persist.get("start", 1)), "stop": int(persist.get("stop", 1))}
        self.start_threshold = float(th["start"] if start_threshold is None else start_threshold)
        self.stop_threshold = float(th["stop"] if stop_threshold is None else stop_threshold)
        self.asr_name = str(asr)
        self.max_sentences = int(max_sentences)
        self.min_speak_blocks = int(min_speak_blocks)
        self.max_turn = int(round(float(max_turn_s) * SAMPLE_RATE))
        self.info = ModelInfo(
            name="turn_classifier", text=True, state=True, version=FEATURES_VERSION,
            extra={"path": str(path), "sha256": self.meta.get("sha256", "")[:16], "asr": self.asr_name,
                   "start_threshold": self.start_threshold, "stop_threshold": self.stop_threshold,
                   "persist": self.persist,
                   "heads": {k: v.get("kind") for k, v in self.meta.get("selected", {}).items()}},
        )

    def _asr(self):
        if self.asr_name.lower() == "none":
            return None
        from benchmark.asr import get_asr

        opts = {"vocabulary_texts": "default"} if self.asr_name == "pocketsphinx" else {}
        return _shared(("asr", self.asr_name), lambda: get_asr(self.asr_name, **opts))

    def _responder(self):
        from benchmark.models.cascade import EchoResponder

        return _shared(("responder", self.max_sentences), lambda: EchoResponder(self.max_sentences, min_overlap=0.0))

    def _tts(self):
        from datagen.tts import get_backend

        return _shared(("tts", "espeak"), lambda: get_backend("espeak"))

    def reply_for(self, heard_audio: np.ndarray) -> tuple[str, np.ndarray, list[tuple[int, str]]]:
        """(text, audio, word starts) of what it says after hearing ``heard_audio``."""
        from benchmark.asr import transcript
        from datagen.tts import ASSISTANT_VOICE

        asr = self._asr()
        heard = transcript(asr.transcribe(heard_audio, SAMPLE_RATE)) if asr is not None and heard_audio.size else ""
        reply = self._responder()(heard) if heard.strip() else ""
        from benchmark.models.cascade import NOT_UNDERSTOOD

        if not reply or reply == NOT_UNDERSTOOD:
            reply = FALLBACK_REPLY
        utt = self._tts().synthesize(reply, ASSISTANT_VOICE)
        return reply, np.asarray(utt.audio, np.float32), [(int(w.start), w.text) for w in utt.words]

    def open_session(self, info: SessionInfo | None = None) -> "TurnClassifierSession":
        return TurnClassifierSession(self)


class TurnClassifierSession:
    """One dialogue: listen (start head) -> speak (stop head) -> listen; features from :class:`FeatureStream`."""

    def __init__(self, model: TurnClassifierModel) -> None:
        self.model = model
        self.stream = FeatureStream(model.features)
        self.own_played = np.zeros(BLOCK, np.float32)  # what it plays during the block being heard
        self.mode = "listen"
        self.reply = np.zeros(0, np.float32)
        self.words: list[tuple[int, str]] = []
        self.pos = 0
        self.spoken = 0
        self.heard: list[np.ndarray] = []  # mic blocks since its voice last stopped (what it answers)
        self.new_speech = 0  # active mic blocks since its voice last stopped
        self.quiet_since_own = 0
        self.probs: list[float] = []
        self.head = "start"
        self.recent: list[float] = []  # this head's probabilities over the last `persist` blocks
        self.decisions: list[str] = []
        self.closed = False

    def _prob(self, head: str, x: np.ndarray) -> float:
        # One row per step gains nothing from OpenMP threads, and on a busy machine their hand-off costs 10-50 ms
        # (measured on 2 shared cores): the prediction runs on one thread.
        with self.model.threads.limit(limits=1, user_api="openmp"):
            return float(self.model.heads[head].predict_proba(x[None, :])[0, 1])

    def step(self, mic_block: np.ndarray) -> StepOutput:
        if self.closed:
            raise RuntimeError("turn_classifier: step() after close()")
        m = self.model
        block = np.nan_to_num(np.asarray(mic_block, np.float32).reshape(-1))
        if block.size != BLOCK:
            raise ValueError(f"turn_classifier: a mic block is {BLOCK} samples, got {block.size}")
        x = self.stream.push(block, self.own_played)
        own_silent = not np.any(self.own_played)
        self.quiet_since_own = self.quiet_since_own + 1 if own_silent else 0
        if self.mode == "listen":
            self.heard.append(block)
            if len(self.heard) * BLOCK > m.max_turn:
                del self.heard[0]
            if self.stream.mic_active and self.quiet_since_own > 2:
                self.new_speech += 1
        decision = "hold" if self.mode == "listen" else "continue"
        head = "start" if self.mode == "listen" else "stop"
        if head != self.head:
            self.head, self.recent = head, []
        p = self._prob(head, x)
        self.recent = (self.recent + [p])[-m.persist[head]:]
        p_held = min(self.recent) if len(self.recent) == m.persist[head] else 0.0  # as training's persisted()
        if self.mode == "listen":
            if p_held >= m.start_threshold and self.new_speech >= 3:
                _, self.reply, self.words = m.reply_for(np.concatenate(self.heard))
                self.pos, self.spoken, self.mode, decision = 0, 0, "speak", "speak"
        else:
            if p_held >= m.stop_threshold and self.spoken >= m.min_speak_blocks:
                self._to_listen()
                decision = "stop"
        self.probs.append(p)
        self.decisions.append(decision)
        out = np.zeros(BLOCK, np.float32)
        text = None
        state = "<think>"
        if self.mode == "speak":
            chunk = self.reply[self.pos:self.pos + BLOCK]
            out[:chunk.size] = chunk
            said = [w for s, w in self.words if self.pos <= s < self.pos + BLOCK]
            text = " ".join(said) or None
            self.pos += BLOCK
            self.spoken += 1
            if decision == "speak":
                state = "<shift>"
            if self.pos >= self.reply.size:
                self._to_listen()
        elif decision == "stop":
            state = "<shift>"
        self.own_played = out
        return StepOutput(out, text, state)

    def _to_listen(self) -> None:
        self.mode = "listen"
        self.reply = np.zeros(0, np.float32)
        self.words = []
        self.heard = []
        self.new_speech = 0

    def close(self) -> None:
        self.closed = True
        self.heard = []
