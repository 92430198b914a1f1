"""The ``salmonn-omni`` adapter of the benchmark protocol: a :mod:`model` checkpoint, streamed block by block.

Each ``step`` encodes the new mic block and the model's own last output block, advances the LLM one block with
its KV cache, decides ``<think>``/``<shift>``/text, and returns the 1280 samples it plays next (zeros while
listening).  A session owns a fresh :class:`model.salmonn.StreamState`, so sessions reset completely.

What it plays (``voice``): ``piper`` (default) speaks the model's own text stream with the corpus assistant's Piper
voice, word by word as each word is complete, and falls silent from the next block after a speak->listen
``<shift>``, the same stopping rule as the model's synthesizer; ``mel`` plays the model's codec-free synthesizer
(LLM hidden states -> mel decoder -> Griffin-Lim).  Why Piper is the default: every duplex metric is judged by a
VAD on the played audio, and the tiny mel decoder, trained on CPU budgets, learns a near-stationary spectrum that
silero-vad does not call speech (measured teacher-forced on a validation corpus: 0 s of speech found where the
reference has 23 s, docs/results.md), so ``mel`` would score the synthesizer, not the turn-taking.  The model's
decisions and text are the same under both; the closed loop then feeds back speech like the assistant channel it
was trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.models import ModelError
from benchmark.protocol import ModelInfo, SessionInfo, StepOutput
from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE

from model.tokens import tokenizer_identity

KNOWN_OPTIONS = ("device", "threads", "sample_rate", "block_samples", "overrides", "quantize", "voice")
VOICES = ("piper", "mel")
WORD_END = " .,;:!?\n"
MAX_WORD_CHARS = 16  # a "word" this long without a boundary is spoken anyway (a model that never emits a space)


class TextVoice:
    """Speaks a streamed text turn with a TTS backend: each complete word is synthesised and queued; every block
    plays the next 1280 samples of the queue (silence when it runs dry); ``stop`` drops what is left."""

    def __init__(self, tts, voice: str) -> None:
        self.tts, self.voice = tts, voice
        self.queue = np.zeros(0, np.float32)
        self.word = ""

    def stop(self) -> None:
        self.queue = np.zeros(0, np.float32)
        self.word = ""

    def feed(self, text: str | None) -> None:
        for ch in text or "":
            if ch in WORD_END:
                self._say(self.word + (ch if ch.strip() else ""))
                self.word = ""
            else:
                self.word += ch
                if len(self.word) >= MAX_WORD_CHARS:
                    self._say(self.word)
                    self.word = ""

    def _say(self, word: str) -> None:
        if not any(c.isalnum() for c in word):
            return
        try:
            audio = np.asarray(self.tts.synthesize(word, self.voice).audio, np.float32)
        except ValueError:  # nothing speakable (the backend says so in one line)
            return
        self.queue = np.concatenate([self.queue, audio])

    def block(self) -> np.ndarray:
        out = np.zeros(BLOCK_SAMPLES, np.float32)
        n = min(BLOCK_SAMPLES, len(self.queue))
        out[:n] = self.queue[:n]
        self.queue = self.queue[n:]
        return out


def piper_voice() -> TextVoice:
    """The default voice: the corpus assistant's Piper voice, cached, shared by the process's sessions."""
    from benchmark.models.cascade import _shared
    from datagen.tts import BackendUnavailable, get_backend
    from datagen.tts.cache import CachedTTS

    try:  # cached (memory and the on-disk TTS cache): the model's words recur, and Piper is a pure function of text
        tts = _shared(("tts", "piper"), lambda: CachedTTS(get_backend("piper")))
    except BackendUnavailable as exc:
        raise ModelError(f"salmonn-omni: voice=piper: {exc} (or use --model-arg voice=mel)") from None
    return TextVoice(tts, tts.voices()[0])


class SalmonnOmniSession:
    def __init__(self, model, info: SessionInfo, voice: "TextVoice | None" = None) -> None:
        self.model = model
        self.info = info
        self.state = model.new_state(seed=int(info.seed), synthesize=voice is None)
        self.voice = voice  # None: play the model's own synthesizer
        self.last_out = np.zeros(BLOCK_SAMPLES, np.float32)
        self.closed = False

    def step(self, mic_block: np.ndarray, force: int | None = None) -> StepOutput:
        """The protocol's step; ``force`` replaces the model's decision by a token (teacher forcing: the probes
        that replay a corpus's tokens through the voice the benchmark plays, :mod:`recipes.stop_probe`)."""
        if self.closed:
            raise RuntimeError("salmonn-omni: step() after close(); open a new session")
        block = np.asarray(mic_block)
        if block.ndim != 1 or block.shape[0] != BLOCK_SAMPLES:
            raise ValueError(
                f"salmonn-omni: mic block has shape {block.shape}, expected ({BLOCK_SAMPLES},) "
                f"(80 ms at {SAMPLE_RATE} Hz); resample to {SAMPLE_RATE} Hz and cut 80 ms blocks"
            )
        block = block.astype(np.float32, copy=False)
        if not np.isfinite(block).all():
            raise ValueError("salmonn-omni: mic block holds NaN or inf samples; clean the input audio")
        r = self.model.step(self.state, block, self.last_out, force=force)
        audio = r.audio
        if self.voice is not None:
            if r.state == "<shift>":  # either way a new turn starts or this one stops: nothing left plays
                self.voice.stop()
            if self.state.modes[-1]:
                self.voice.feed(r.text)
            audio = self.voice.block()
        self.last_out = audio
        return StepOutput(audio=audio.copy(), text=r.text, state=r.state, token=int(r.token))

    def close(self) -> None:
        self.closed = True
        self.state = None


class SalmonnOmniModel:
    """Factory ``SalmonnOmniModel(checkpoint, **options)``; options: ``device`` (cpu), ``threads`` (torch intra-op
    threads; 1 is fastest for the tiny model on a busy 2-core machine), ``quantize`` ("int8": dynamic int8 LLM weights, ~2x faster for ``small``
    on a CPU; default none: the exact fp32 model; LoRA is merged either way), ``sample_rate``/``block_samples`` (checked:
    this model runs at 16 kHz, 1280-sample blocks), ``overrides`` (dotted config keys, e.g. a moved backbone.path),
    ``voice`` (``piper``, the default, or ``mel``: see the module docstring)."""

    def __init__(self, checkpoint: str, **options: Any) -> None:
        unknown = [k for k in options if k not in KNOWN_OPTIONS]
        if unknown:
            raise ModelError(f"salmonn-omni: unknown option {unknown[0]!r} (known: {', '.join(KNOWN_OPTIONS)})")
        self.voice = str(options.get("voice", "piper"))
        if self.voice not in VOICES:
            raise ModelError(f"salmonn-omni: voice {self.voice!r} (known: {', '.join(VOICES)})")
        sr = int(options.get("sample_rate", SAMPLE_RATE))
        bs = int(options.get("block_samples", BLOCK_SAMPLES))
        if sr != SAMPLE_RATE or bs != BLOCK_SAMPLES:
            raise ModelError(
                f"salmonn-omni: runs at {SAMPLE_RATE} Hz with {BLOCK_SAMPLES}-sample blocks, got {sr} Hz / {bs}; "
                "let the harness resample (drop the sample_rate/block_samples options)"
            )
        if options.get("threads"):
            import torch

            torch.set_num_threads(int(options["threads"]))
        from model.checkpoint import load_checkpoint

        overrides = options.get("overrides") or []
        if isinstance(overrides, str):
            overrides = [overrides]
        self.model = load_checkpoint(checkpoint, device=options.get("device", "cpu"), overrides=overrides)
        # Inference only: LoRA is always merged (exact, and 120 fewer small matmuls per block for `small`);
        # int8 only when asked, because its decisions may differ from fp32 in near-ties.
        self.model.prepare_inference(str(options["quantize"]) if options.get("quantize") else None)
        cfg = self.model.cfg
        self.info = ModelInfo(
            name="salmonn-omni",
            sample_rate=SAMPLE_RATE,
            block_samples=BLOCK_SAMPLES,
            text=True,
            state=True,
            version=f"{cfg.name}-{cfg.thinking}-{self.voice}",
            extra={"checkpoint": str(checkpoint), "config": cfg.name, "voice": self.voice,
                   "decision": dict(vars(cfg.decision)), "params": self.model.param_counts(),
                   "tokenizer": tokenizer_identity(self.model.tokenizer)},
        )

    def open_session(self, info: SessionInfo) -> SalmonnOmniSession:
        # built here, where a missing backend is one line, not inside the first step
        return SalmonnOmniSession(self.model, info, piper_voice() if self.voice == "piper" else None)
