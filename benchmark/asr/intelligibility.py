"""``duplexkit validate``'s ASR check: the WER of each rendered turn against its text, per voice, to catch voices
or TTS backends whose speech nobody can understand (datagen never imports the benchmark, so the check lives here and
the console script runs it after datagen's own checks).

Assistant turns are cut from the ``assistant`` channel (what was played, dry).  User and third-speaker turns are
heard in the corpus only after the room, where every ASR fails (WER >= 0.7 on reverberant speech), so they are
synthesised again, dry, by the corpus's own TTS config (``stats.json``; deterministic, and the on-disk cache makes
it cheap): the same audio the renderer placed before the room.  A voice whose WER exceeds ``max_wer`` over at least
:data:`MIN_WORDS` words, or with fewer words of which the ASR heard under :data:`MIN_HEARD`, is flagged.  Backchannel
turns ("mhm", "uh-huh") are left out: no ASR agrees on how to spell them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MAX_VOICE_WER = 0.6  # Whisper tiny.en: dry espeak user voices 0.09-0.40 (55 words each), Piper ~0.02-0.10
MIN_WORDS = 40  # below this a voice's WER is too noisy to judge (0.67 on 18 words of a good voice, measured) ...
# ... so there a voice is flagged only when the ASR heard under this share of its words (silence, noise, another
# language: ~0).  Not the WER: one 7-word turn of a good voice ("Quick one, what's 63 plus 63?" heard as "week one
# what's c three lost c two three", demo corpus 2026-12-06) reads WER 1.00, with 3 of its 7 words heard.
MIN_HEARD = 0.2


@dataclass
class IntelligibilityReport:
    asr: str
    voices: dict[str, dict[str, Any]] = field(default_factory=dict)  # voice -> speaker, turns, words, errors, wer
    flagged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    max_wer: float = MAX_VOICE_WER

    @property
    def ok(self) -> bool:
        return not self.flagged

    def format(self) -> str:
        lines = [f"  ASR ({self.asr}) WER of rendered turns against their text, per voice (flag above {self.max_wer} "
                 f"with >= {MIN_WORDS} words; with fewer, when under {MIN_HEARD:.0%} of the words are heard):"]
        for voice, v in sorted(self.voices.items(), key=lambda kv: (kv[1]["speaker"], kv[0])):
            mark = "  <- unintelligible" if voice in self.flagged else ("" if v["words"] >= MIN_WORDS else
                                                                          "  (few words)")
            lines.append(f"    {v['speaker']:9s} {voice:28s} WER {v['wer']:.2f} ({v['turns']} turns, "
                         f"{v['words']} words, {v['heard']} heard){mark}")
        lines += [f"    note: {n}" for n in self.notes]
        return "\n".join(lines)


def _dry_backends(stats: dict[str, Any]) -> dict[str, Any]:
    """speaker -> a cached backend for the non-assistant voices, from the corpus's recorded config."""
    from datagen.tts import CachedTTS, get_backend

    cfg = stats.get("config") or {}
    out = {}
    for speaker, spec in (("user", cfg.get("user_tts") or cfg.get("tts")), ("third", cfg.get("tts"))):
        if spec:
            opts = dict(spec)
            out[speaker] = CachedTTS(get_backend(opts.pop("backend"), **opts))
    return out


def check_intelligibility(root: str | Path, asr: Any = None, asr_name: str = "whisper",
                          max_dialogues: int | None = None, max_wer: float = MAX_VOICE_WER) -> IntelligibilityReport:
    from benchmark.asr import get_asr, transcribe_many, transcript
    from benchmark.asr.text import word_errors, word_hits
    from datagen.corpus import Corpus

    corpus = Corpus(root)
    asr = asr if asr is not None else get_asr(asr_name)
    report = IntelligibilityReport(asr=getattr(asr, "name", asr_name), max_wer=max_wer)
    stats_path = Path(root) / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    try:
        dry = _dry_backends(stats)
    except Exception as exc:  # noqa: BLE001 - e.g. a recordings manifest that moved: check the assistant only
        dry = {}
        report.notes.append(f"user/third turns not checked: cannot rebuild their TTS ({type(exc).__name__}: {exc})")
    clips: list[np.ndarray] = []
    keys: list[tuple[str, str, str]] = []  # speaker, voice, reference text
    for i, (d, audio) in enumerate(corpus.iter_audio()):
        if max_dialogues is not None and i >= max_dialogues:
            break
        for t in d.turns:
            if not t.text.strip() or t.kind == "backchannel":  # "mhm", "uh-huh": no words an ASR agrees on
                continue
            if t.speaker == "assistant":
                clip = audio["assistant"][t.start:t.end]
            elif t.speaker in dry:
                try:
                    clip = dry[t.speaker].synthesize(t.full_text or t.text, t.voice).audio
                except ValueError as exc:
                    report.notes.append(f"{d.id}: cannot re-synthesise a {t.speaker} turn ({exc})")
                    continue
            else:
                continue
            clips.append(clip)
            keys.append((t.speaker, t.voice, t.full_text or t.text if t.speaker != "assistant" else t.text))
    hyps = [transcript(w) for w in transcribe_many(asr, clips)]
    for (speaker, voice, ref), hyp in zip(keys, hyps):
        v = report.voices.setdefault(voice, {"speaker": speaker, "turns": 0, "words": 0, "errors": 0, "heard": 0})
        e, n = word_errors(ref, hyp)
        v["turns"] += 1
        v["words"] += n
        v["errors"] += e
        v["heard"] += word_hits(ref, hyp)[0]
    for voice, v in report.voices.items():
        v["wer"] = v["errors"] / max(v["words"], 1)
        if unintelligible(v, max_wer):
            report.flagged.append(voice)
    return report


def unintelligible(voice: dict[str, Any], max_wer: float = MAX_VOICE_WER) -> bool:
    """The flag rule on one voice's totals (``words``, ``errors``, ``heard``): the WER where there are enough words
    to judge it, else whether the ASR heard almost none of them."""
    if voice["words"] >= MIN_WORDS:
        return voice["errors"] / voice["words"] > max_wer
    return voice["heard"] < MIN_HEARD * voice["words"]
