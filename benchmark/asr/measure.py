"""The measurement behind the tables in ``docs/asr.md``: bank items spoken by espeak (questions in the user
voices, responses in the assistant voice), transcribed by pocketsphinx, WER and real-time factor."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from benchmark.asr import transcript
from benchmark.asr.pocketsphinx import PocketsphinxASR
from benchmark.asr.text import word_errors
from datagen.schema import SAMPLE_RATE


def measure(n_items: int = 20, vocabulary: Sequence[str] | str | None = "default") -> dict[str, float]:
    """WER of questions and responses, decoding CPU seconds per audio second, and the LM's dropped words."""
    from datagen.content import question_bank
    from datagen.tts import ASSISTANT_VOICE, USER_VOICES, get_backend

    bank = question_bank()
    items = [bank[i] for i in np.linspace(0, len(bank) - 1, n_items).astype(int)]
    tts = get_backend("espeak")
    asr = PocketsphinxASR(vocabulary)
    asr.transcribe(np.zeros(SAMPLE_RATE, np.float32))  # load the decoder outside the timing
    result: dict[str, float] = {}
    cpu = dur = 0.0
    for kind in ("question", "response"):
        errors = n = 0
        for i, item in enumerate(items):
            text = getattr(item, kind)
            voice = USER_VOICES[i % len(USER_VOICES)] if kind == "question" else ASSISTANT_VOICE
            audio = tts.synthesize(text, voice).audio
            t0 = time.process_time()
            hyp = transcript(asr.transcribe(audio))
            cpu += time.process_time() - t0
            dur += audio.size / SAMPLE_RATE
            e, m = word_errors(text, hyp)
            errors, n = errors + e, n + m
        result[f"wer_{kind}"] = errors / max(n, 1)
    result["rtf"] = cpu / max(dur, 1e-9)
    result["oov_dropped"] = float(asr.oov_dropped)
    return result


def main(argv: Sequence[str]) -> None:
    n = int(argv[0]) if argv else 20
    for label, vocab in (("generic en-us LM", None), ("bank LM", "default")):
        print(label, {k: round(v, 3) for k, v in measure(n, vocab).items()}, flush=True)
