"""The default ASR: pocketsphinx with its shipped en-us acoustic model, offline; with a vocabulary it decodes with
the trigram LM and restricted dictionary of :mod:`benchmark.asr.lm` (the benchmark knows what will be said)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmark.asr import WordTiming
from benchmark.asr.lm import build_lm, model_dir
from datagen.content.vocabulary import spoken_texts
from datagen.common.audio import to_16k
from datagen.schema import SAMPLE_RATE

FRAME_RATE = 100  # pocketsphinx frames per second (-frate)
_SKIP = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")


def _to_int16(audio: np.ndarray) -> bytes:
    x = np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1))
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


# Loading a decoder takes ~0.5 s: one per configuration in the process, each with its own lock.
_DECODERS: dict[tuple, Any] = {}
_DECODER_LOCK = threading.Lock()


class PocketsphinxASR:
    """pocketsphinx (shipped en-us acoustic model), optionally with an LM + dictionary built from known texts.

    ``vocabulary_texts``: texts whose words and word sequences the speech is expected to use (``"default"`` for
    :func:`datagen.content.vocabulary.spoken_texts`), or None for the generic en-us LM.  ``lw``: language-model weight
    (pocketsphinx's default 6.5).  ``g2p``: give words the CMU dictionary lacks an espeak pronunciation (else they
    are dropped and counted in ``oov_dropped``).  The decoder is shared per configuration in the process and
    guarded by a lock.
    """

    name = "pocketsphinx"

    def __init__(self, vocabulary_texts: Sequence[str] | str | None = None, lw: float | None = None,
                 g2p: bool = True) -> None:
        if isinstance(vocabulary_texts, str):
            if vocabulary_texts != "default":
                raise ValueError(f"vocabulary_texts: a list of texts, 'default' or None, not {vocabulary_texts!r}")
            vocabulary_texts = spoken_texts()
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
                kw: dict[str, Any] = {"hmm": str(model_dir() / "en-us"), "loglevel": "FATAL"}
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
            # The feature front end (its noise estimate) carries over from the previous utterance: without this
            # reset a transcript depended on what the process had decoded before, so on how items fell to workers.
            dec.reinit_feat()
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
