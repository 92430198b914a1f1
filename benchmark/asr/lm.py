"""Vocabulary, dictionary and trigram LM for pocketsphinx: the benchmark knows what will be said (its bank and
lexicons), and an LM built from those texts halves the WER on espeak speech (``docs/asr.md``)."""

from __future__ import annotations

import hashlib
import io
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from benchmark.asr.text import spoken_words
from datagen.common.cache import cache_dir
from datagen.common.files import atomic_write_text

LM_VERSION = "2"  # bump when the LM text normalisation changes (it is part of the cache key)


def model_dir() -> Path:
    """pocketsphinx's shipped en-us folder (acoustic model and CMU dictionary)."""
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


@lru_cache(maxsize=1)
def cmudict() -> dict[str, tuple[str, ...]]:
    """word -> pronunciations (the shipped CMU dictionary, alternates in file order)."""
    out: dict[str, list[str]] = {}
    with open(model_dir() / "cmudict-en-us.dict", encoding="utf-8") as f:
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


def ipa_to_arpa(ipa: str) -> str:
    """ARPAbet phones (space separated) for an espeak IPA string; unknown symbols and marks are skipped."""
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
    """Pronunciations (ARPAbet) for ``words`` from espeak-ng's en-us letter-to-sound rules (pocketsphinx 5 ships no
    g2p), through datagen.tts' engine.  Empty when espeak-ng is unavailable."""
    try:
        from datagen.tts.espeak_binding import EspeakEngine

        engine = EspeakEngine.get()
    except Exception:  # noqa: BLE001 - no espeak: no g2p, the words get dropped
        return {}
    try:
        ipa = engine.phonemes(words, voice="en-us")
    except ValueError:  # espeak cannot select en-us
        return {}
    return {w: arpa for w, arpa in ((w, ipa_to_arpa(p)) for w, p in ipa.items()) if arpa}


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
    ``g2p``, else they are dropped.  Returns (arpa path, dict path, number of distinct words dropped for lack of a
    pronunciation).  Files are content-addressed (sha256 of the normalised sentences and the dictionary) and
    written atomically into ``directory`` (default ``cache_dir("asr")``), so parallel processes share them.
    """
    from pocketsphinx.lm import ArpaBoLM

    pron = dict(cmudict())
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
