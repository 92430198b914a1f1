"""The benchmark harness's own cost: per 80 ms block, with a model that costs nothing, and what scoring adds.

Run with ``make bench``.  Generates a small corpus (cached RIR bank), builds every item, then times, in this one
run and on one core:

* the closed loop alone with ``silent`` (mixing, the echo path, resampling bookkeeping, fault checks): harness
  milliseconds per block and its real-time factor (goal: <= 1 ms per block);
* the same with ``always_talk``, whose audio goes through the echo path's convolution every block;
* item materialisation (decoding the corpus audio, building the environment) and scoring (silero VAD on the
  model's output), as a share of the audio time;
* the ``salmonn-omni`` adapter's default voice (Piper, word by word, through the TTS cache) speaking the corpus's
  assistant text: seconds of speech per CPU second with a cold cache and again warm (a closed-loop run repeats
  words; docs/benchmark.md "What a closed-loop run costs").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from benchmark.harness import run_item
from benchmark.items import build_items, materialize, with_echo_factor
from benchmark.metrics import MetricConfig
from benchmark.models import load_model
from benchmark.tasks import score_run
from datagen.acoustics import AcousticsConfig, RIRBank
from datagen.config import GeneratorConfig
from datagen.corpus import Corpus
from datagen.generate import generate
from datagen.schema import BLOCK_SAMPLES, SAMPLE_RATE


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--max-runs", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        generate(out, args.minutes, seed=5, workers=1, config=GeneratorConfig(), progress=False)
        corpus = Corpus(out)
        bank = RIRBank.load_or_build(AcousticsConfig.from_dict(corpus.stats()["config"]["acoustics"]), progress=False)
        specs = build_items(corpus.dialogues)[: args.max_runs]
        audio = {d.id: corpus.audio(d.id) for d in corpus.dialogues}
        t0 = time.process_time()
        items = [materialize(with_echo_factor(s, 1.0), corpus.dialogue(s.dialogue_id), audio[s.dialogue_id], bank)
                 for s in specs]
        materialize_s = time.process_time() - t0
        audio_s = sum(i.spec.num_samples for i in items) / SAMPLE_RATE
        blocks = sum(i.spec.num_samples // BLOCK_SAMPLES for i in items)
        print(f"{len(items)} items, {audio_s:.0f} s of audio, {blocks} blocks")
        print(f"materialise items: {materialize_s / audio_s * 1000:.2f} ms CPU per audio second")
        for name in ("silent", "always_talk"):
            model = load_model(name)
            run_item(model, items[0])  # warm-up (TTS for always_talk)
            t0 = time.process_time()
            runs = [run_item(model, item) for item in items]
            loop_s = time.process_time() - t0
            model_s = sum(r.compute_s for r in runs)
            harness_s = loop_s - model_s
            print(f"{name:>12}: loop {loop_s / blocks * 1000:.3f} ms per block, of which harness "
                  f"{harness_s / blocks * 1000:.3f} ms (goal <= 1 ms); harness real-time factor "
                  f"{harness_s / audio_s:.4f} ({audio_s / max(harness_s, 1e-9):.0f}x faster than real time)")
            cfg = MetricConfig()
            t0 = time.process_time()
            for s, r in zip(items, runs):
                score_run(s.spec, 1.0, r, cfg)
            score_s = time.process_time() - t0
            print(f"{'':>12}  scoring (silero VAD on the output): {score_s / audio_s * 1000:.2f} ms CPU per audio s")
        voice_cost(" ".join(t.text for d in corpus.dialogues for t in d.turns if t.speaker == "assistant"))
    return 0


def voice_cost(text: str) -> None:
    """The salmonn-omni adapter's Piper voice fed ``text`` as a model streams it, in a fresh TTS cache, twice."""
    import os

    from benchmark.models import ModelError
    from benchmark.models.salmonn_omni import piper_voice

    before = os.environ.get("DUPLEXKIT_TTS_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DUPLEXKIT_TTS_CACHE"] = cache
        try:
            voice = piper_voice()
            for label in ("cold cache", "warm cache"):
                t0 = time.process_time()
                voice.feed(text + " ")
                spoken = len(voice.queue) / SAMPLE_RATE
                voice.stop()
                cpu = time.process_time() - t0
                print(f"salmonn-omni voice (piper, word by word), {label}: {spoken:.0f} s of speech in {cpu:.2f} "
                      f"CPU s -> {spoken / max(cpu, 1e-9):.0f}x real time")
        except ModelError as exc:  # an optional backend: say why and go on
            print(f"salmonn-omni voice: skipped ({exc})")
        finally:
            if before is None:
                os.environ.pop("DUPLEXKIT_TTS_CACHE", None)
            else:
                os.environ["DUPLEXKIT_TTS_CACHE"] = before


if __name__ == "__main__":
    sys.exit(main())
