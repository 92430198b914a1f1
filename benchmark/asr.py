"""The benchmark's pluggable ASR: ``transcribe(audio, sample_rate=16000) -> [WordTiming(word, start_s, end_s)]``.

Backends are registered by name (:func:`get_asr`):

* ``"pocketsphinx"`` (default, offline, ships its en-us acoustic model): :class:`PocketsphinxASR`.  With
  ``vocabulary_texts`` it decodes with a small trigram LM built from those texts (ARPA, written once into the
  duplexkit cache, content-addressed, byte-for-byte deterministic) and a dictionary restricted to their words
  (pronunciations from the shipped CMU dictionary; pocketsphinx 5 ships no g2p, so words the dictionary lacks get
  one from espeak-ng's letter-to-sound rules (:func:`espeak_g2p`, IPA mapped to ARPAbet); with ``g2p=False``, or
  when espeak gives nothing, they are dropped from the LM and counted in ``oov_dropped``).  Without it, the shipped generic en-us LM and the full
  dictionary are used.  ``vocabulary="default"`` (:func:`default_vocabulary`) is every question, answer, response
  and follow-up of datagen's question bank plus the interruption / backchannel / distractor lexicons: the scripts
  the benchmark plays.
* ``"whisper"``: a Whisper-style model through transformers, loaded **only** from a local directory
  (``model_path=...``); a missing package or path is a one-line ``RuntimeError``.

Measured (2-core CPU, espeak-ng speech from ``datagen.tts``, WER after digit/number-word normalisation,
``python -m benchmark.asr``; 20 bank items spread over all categories, questions in the 12 user voices, responses
(30-55 words, ~15 s each) in the assistant voice):

====================================  ==============  ==============  ======
condition                             WER questions   WER responses   RTF
====================================  ==============  ==============  ======
generic en-us LM (no vocabulary)      0.81            0.49            0.63
bank LM, no g2p (``g2p=False``)       0.52            0.07            0.13
bank LM + espeak g2p (default)        0.51            0.06            0.10
====================================  ==============  ==============  ======

WER on questions depends strongly on the voice (bank LM, 8 questions each): en-us female voices at rate >= 175
(``en-us+f2`` the assistant voice 0.07, ``en-us+f5`` 0.10, ``en-us-nyc+f2`` 0.15) are read well; low-pitched,
slow and British/Caribbean voices are not (``en+m1`` 0.79, ``en-gb-x-rp+m7`` 0.97, ``en-029+m4`` 0.96): the
acoustic model, not the LM, is the limit (LM weight, beams and CMN settings were tried: none beat the defaults by
more than a few points).  60 bank words (mostly foreign capital names: "abuja", "thimphu", "kyiv", "litre") have
no CMU pronunciation; espeak's g2p gives them one, so e.g. "The capital of Nigeria is Abuja." is read exactly
(without it those answers cannot be recognised at all; exotic ones like "Yaounde" still fail).  The generic-LM
RTF (0.63) was taken with another decoder job on the second core; the bank-LM rows on an idle machine.

RTF is decoding CPU seconds per second of audio (lower is faster); building the bank LM takes ~1 s once per cache
and loading a decoder ~0.5 s (decoders are cached per vocabulary in the process).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

from datagen.common.audio import to_16k
from datagen.common.cache import cache_dir
from datagen.common.files import atomic_write_text
from datagen.schema import SAMPLE_RATE

FRAME_RATE = 100  # pocketsphinx frames per second (-frate)
LM_VERSION = "2"  # bump when the LM text normalisation changes (it is part of the cache key)


@dataclass(frozen=True)
class WordTiming:
    word: str
    start_s: float
    end_s: float


@runtime_checkable
class ASR(Protocol):
    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[WordTiming]: ...


# ------------------------------------------------------------------------------------------------------------------
# Text normalisation shared by the LM builder and WER
# ------------------------------------------------------------------------------------------------------------------
_DIGITS = re.compile(r"\d+")
_NON_WORD = re.compile(r"[^a-z' ]+")


def _number_words(m: re.Match) -> str:
    from datagen.content.numbers import number_to_words

    return f" {number_to_words(int(m.group()))} "


def spoken_words(text: str) -> list[str]:
    """Lower-case words as spoken: digits read out ("102" -> "one hundred two"), hyphens split, punctuation and
    quotes dropped (inner apostrophes kept: "what's")."""
    from datagen.content.numbers import strip_digit_groups

    t = strip_digit_groups(str(text).lower())
    t = _DIGITS.sub(_number_words, t.replace("-", " "))
    t = _NON_WORD.sub(" ", t)
    return [w.strip("'") for w in t.split() if w.strip("'")]


def _wer_tokens(text: str) -> list[str]:
    from datagen.content.numbers import replace_number_words

    # number words -> digits on both sides, so "one hundred and two" and "one hundred two" agree
    return replace_number_words(" ".join(spoken_words(text))).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length) after :func:`spoken_words` + number normalisation."""
    ref, hyp = _wer_tokens(reference), _wer_tokens(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def wer(reference: str, hypothesis: str) -> float:
    errors, n = word_errors(reference, hypothesis)
    return errors / max(n, 1)


# ------------------------------------------------------------------------------------------------------------------
# Vocabulary, dictionary, LM
# ------------------------------------------------------------------------------------------------------------------
def default_vocabulary() -> list[str]:
    """The texts the benchmark speaks: bank questions, answers, responses, follow-ups; lexicon lines; fillers."""
    from datagen import content
    from datagen.content import lexicon

    texts: list[str] = []
    for item in content.question_bank():
        texts += [item.question, item.answer, *item.aliases, item.response, *item.followups]
    for name in dir(lexicon):
        value = getattr(lexicon, name)
        if name.isupper() and isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            texts += list(value)
    for name in ("PAUSE_FILLERS", "INTERRUPT_PREFIXES", "THIRD_PARTY_NAMES", "FALLBACK_UNRELATED", "CLOSINGS",
                 "NEUTRAL"):
        texts += list(getattr(content, name, ()))
    return texts


def _model_dir() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, tuple[str, ...]]:
    """word -> pronunciations (the shipped CMU dictionary, alternates in file order)."""
    out: dict[str, list[str]] = {}
    with open(_model_dir() / "cmudict-en-us.dict", encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                continue
            word = re.sub(r"\(\d+\)$", "", parts[0])
            out.setdefault(word, []).append(" ".join(parts[1].split()))
    return {w: tuple(p) for w, p in out.items()}


# espeak-ng IPA (en-us) -> CMU/ARPAbet phones; longest match first; stress and length marks are dropped.
_IPA_TO_ARPA = {
    "tʃ": "CH", "dʒ": "JH", "eɪ": "EY", "aɪ": "AY", "aʊ": "AW", "oʊ": "OW", "əʊ": "OW", "ɔɪ": "OY", "ɜː": "ER",
    "iː": "IY", "uː": "UW", "ɑː": "AA", "ɔː": "AO", "ɚ": "ER", "ɝ": "ER", "ɐ": "AH", "ə": "AH", "ɪ": "IH",
    "ᵻ": "IH", "i": "IY", "ɛ": "EH", "e": "EY", "æ": "AE", "a": "AE", "ɑ": "AA", "ɒ": "AA", "ɔ": "AO", "o": "OW",
    "ʊ": "UH", "u": "UW", "ʌ": "AH", "ɾ": "T", "ɹ": "R", "r": "R", "l": "L", "ɫ": "L", "ɬ": "L", "m": "M",
    "n": "N", "ŋ": "NG", "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "ɡ": "G", "f": "F",
    "v": "V", "s": "S", "z": "Z", "h": "HH", "x": "HH", "ç": "HH", "θ": "TH", "ð": "DH", "ʃ": "SH", "ʒ": "ZH",
    "j": "Y", "w": "W",
}


def _ipa_to_arpa(ipa: str) -> str:
    phones, i = [], 0
    while i < len(ipa):
        for n in (2, 1):
            piece = ipa[i:i + n]
            if piece in _IPA_TO_ARPA:
                phones.append(_IPA_TO_ARPA[piece])
                i += n
                break
        else:
            i += 1  # stress, length, syllabic marks, spaces, unknown symbols
    return " ".join(phones)


def espeak_g2p(words: Sequence[str]) -> dict[str, str]:
    """Pronunciations (ARPAbet) for ``words`` from espeak-ng's en-us letter-to-sound rules, run in process through
    datagen.tts' engine.  Empty when espeak-ng is unavailable."""
    try:
        from datagen.tts.espeak_binding import EspeakEngine

        engine = EspeakEngine.get()
    except Exception:  # noqa: BLE001 - no espeak: no g2p, the words get dropped
        return {}
    try:
        ipa = engine.phonemes(words, voice="en-us")
    except ValueError:  # espeak cannot select en-us
        return {}
    return {w: arpa for w, arpa in ((w, _ipa_to_arpa(p)) for w, p in ipa.items()) if arpa}


def _sentences(texts: Iterable[str]) -> list[list[str]]:
    out = []
    for text in texts:
        for piece in re.split(r"[.!?;:,]+(?:\s|$)", str(text)):
            words = spoken_words(piece)
            if words:
                out.append(words)
    return out


def build_lm(texts: Sequence[str], directory: str | Path | None = None, g2p: bool = True) -> tuple[Path, Path, int]:
    """Write ``<key>.arpa`` (trigram, pocketsphinx's ArpaBoLM, discount mass 0.5) and ``<key>.dict`` for ``texts``.

    Pronunciations come from the shipped CMU dictionary; words it lacks get one from :func:`espeak_g2p` when
    ``g2p`` (pocketsphinx 5 has no g2p of its own), else they are dropped.  Returns (arpa path, dict path, number
    of distinct words dropped for lack of a pronunciation).  Files are content-addressed (sha256 of the normalised
    sentences and the dictionary) and written atomically, so parallel processes share them.
    """
    from pocketsphinx.lm import ArpaBoLM

    pron = dict(_cmudict())
    sents = _sentences(texts)
    missing = sorted({w for s in sents for w in s if w not in pron})
    if g2p and missing:
        pron.update({w: (p,) for w, p in espeak_g2p(missing).items()})
    dropped = [w for w in missing if w not in pron]
    drop = set(dropped)
    # a dropped word splits its sentence, so no n-gram spans the gap
    kept: list[list[str]] = []
    for s in sents:
        cur: list[str] = []
        for w in s:
            if w in drop:
                if cur:
                    kept.append(cur)
                cur = []
            else:
                cur.append(w)
        if cur:
            kept.append(cur)
    corpus = "".join(" ".join(s) + "\n" for s in kept)
    vocab = sorted({w for s in kept for w in s})
    lines = []
    for w in vocab:
        for i, p in enumerate(pron[w]):
            lines.append(f"{w} {p}\n" if i == 0 else f"{w}({i + 1}) {p}\n")
    dictionary = "".join(lines)
    key = hashlib.sha256(f"v{LM_VERSION}\n{corpus}\n{dictionary}".encode()).hexdigest()[:16]
    root = Path(directory) if directory is not None else cache_dir("asr")
    root.mkdir(parents=True, exist_ok=True)
    arpa, dic = root / f"lm-{key}.arpa", root / f"lm-{key}.dict"
    if not (arpa.exists() and dic.exists()):
        lm = ArpaBoLM(add_start=True, discount_mass=0.5)
        lm.read_corpus(io.StringIO(corpus))
        lm.compute()
        buf = io.StringIO()
        lm.write(buf)
        for path, text in ((arpa, buf.getvalue()), (dic, dictionary)):
            atomic_write_text(path, text)
    return arpa, dic, len(dropped)


# ------------------------------------------------------------------------------------------------------------------
# Backends
# ------------------------------------------------------------------------------------------------------------------
_SKIP = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")


def _to_int16(audio: np.ndarray) -> bytes:
    x = np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1))
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


_DECODERS: dict[tuple, Any] = {}
_DECODER_LOCK = threading.Lock()


class PocketsphinxASR:
    """pocketsphinx (shipped en-us acoustic model), optionally with an LM + dictionary built from known texts.

    ``vocabulary_texts``: texts whose words and word sequences the speech is expected to use (``"default"`` for
    :func:`default_vocabulary`), or None for the generic en-us LM.  ``lw``: language-model weight (pocketsphinx's
    default 6.5).  The decoder is shared per configuration in the process and guarded by a lock.
    """

    name = "pocketsphinx"

    def __init__(self, vocabulary_texts: Sequence[str] | str | None = None, lw: float | None = None,
                 g2p: bool = True) -> None:
        if isinstance(vocabulary_texts, str):
            if vocabulary_texts != "default":
                raise ValueError(f"vocabulary_texts: a list of texts, 'default' or None, not {vocabulary_texts!r}")
            vocabulary_texts = default_vocabulary()
        self.oov_dropped = 0
        self.lm_path: Path | None = None
        self.dict_path: Path | None = None
        if vocabulary_texts is not None:
            self.lm_path, self.dict_path, self.oov_dropped = build_lm(list(vocabulary_texts), g2p=g2p)
        self.lw = lw
        self._key = (str(self.lm_path), str(self.dict_path), lw)

    def _decoder(self):
        with _DECODER_LOCK:
            dec = _DECODERS.get(self._key)
            if dec is None:
                try:
                    import pocketsphinx
                except ImportError:
                    raise RuntimeError("pocketsphinx ASR needs the pocketsphinx package: pip install pocketsphinx") from None
                kw: dict[str, Any] = {"hmm": str(_model_dir() / "en-us"), "loglevel": "FATAL"}
                if self.lm_path is not None:
                    kw.update(lm=str(self.lm_path), dict=str(self.dict_path))
                if self.lw is not None:
                    kw["lw"] = float(self.lw)
                dec = _DECODERS[self._key] = (pocketsphinx.Decoder(**kw), threading.Lock())
            return dec

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[WordTiming]:
        x = to_16k(audio, sample_rate)
        if x.size < SAMPLE_RATE // 10:
            return []
        dec, lock = self._decoder()
        with lock:
            dec.start_utt()
            dec.process_raw(_to_int16(x), no_search=False, full_utt=True)
            dec.end_utt()
            segs = [(s.word, s.start_frame, s.end_frame) for s in dec.seg()] if dec.hyp() is not None else []
        dur = x.size / SAMPLE_RATE
        out = []
        for word, start, end in segs:
            word = re.sub(r"\(\d+\)$", "", word)
            if _SKIP.match(word):
                continue
            s = min(max(start / FRAME_RATE, 0.0), dur)
            e = min(max((end + 1) / FRAME_RATE, s), dur)
            out.append(WordTiming(word, s, e))
        return out


class WhisperASR:
    """A Whisper-style model through transformers' ASR pipeline, from a local directory only (nothing downloaded)."""

    name = "whisper"

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu") -> None:
        if not model_path or not Path(model_path).is_dir():
            raise RuntimeError(f"whisper ASR needs local weights: model_path={model_path!r} is not a directory")
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            from transformers import pipeline
        except ImportError:
            raise RuntimeError("whisper ASR needs transformers: pip install transformers") from None
        try:
            self._pipe = pipeline("automatic-speech-recognition", model=str(model_path), device=device,
                                  model_kwargs={"local_files_only": True})
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"whisper ASR: cannot load {model_path}: {(str(exc).splitlines() or [''])[0]}") from None

    def transcribe(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[WordTiming]:
        x = to_16k(audio, sample_rate)
        out = self._pipe({"raw": x, "sampling_rate": SAMPLE_RATE}, return_timestamps="word")
        words = []
        for chunk in out.get("chunks") or []:
            start, end = chunk.get("timestamp") or (None, None)
            for w in spoken_words(chunk.get("text", "")):
                s = float(start or 0.0)
                words.append(WordTiming(w, s, float(end) if end is not None else s))
        return words


_REGISTRY: dict[str, Callable[..., ASR]] = {"pocketsphinx": PocketsphinxASR, "whisper": WhisperASR}


def available() -> list[str]:
    return sorted(_REGISTRY)


def get_asr(name: str = "pocketsphinx", **opts: Any) -> ASR:
    """An ASR backend by name: ``get_asr("pocketsphinx", vocabulary_texts="default")``,
    ``get_asr("whisper", model_path="/models/whisper-small")``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown ASR {name!r} (known: {', '.join(available())})")
    return _REGISTRY[name](**opts)


def transcript(words: Sequence[WordTiming]) -> str:
    return " ".join(w.word for w in words)


# ------------------------------------------------------------------------------------------------------------------
# Measurement (the numbers in the module docstring): python -m benchmark.asr [n_items]
# ------------------------------------------------------------------------------------------------------------------
def measure(n_items: int = 20, vocabulary: Sequence[str] | str | None = "default") -> dict[str, float]:
    import time

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


if __name__ == "__main__":  # pragma: no cover
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for label, vocab in (("generic en-us LM", None), ("bank LM", "default")):
        print(label, {k: round(v, 3) for k, v in measure(n, vocab).items()}, flush=True)
