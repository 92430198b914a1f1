"""The state tokens and the tiny byte tokenizer: the one place that names ``<think>`` and ``<shift>``.

The LLM's tokenizer gets the state tokens as added special tokens, so their ids follow the base vocabulary
(``base_vocab`` and ``base_vocab + 1``).  The model keeps their embeddings and output rows in a small extra table
instead of resizing the base LM's (tied) embedding matrix, so a frozen pretrained backbone stays untouched.
"""

from __future__ import annotations

THINK = "<think>"
SHIFT = "<shift>"
STATE_TOKENS = (THINK, SHIFT)
# StepOutput.state values (benchmark protocol)
STATE_TEXT = "text"


class ByteTokenizer:
    """UTF-8 bytes as tokens (256 ids) plus <pad>, <eos>, then the state tokens: no download, fully deterministic.

    Used by the ``tiny`` backbone so tests never need SmolLM2.  Interface: ``encode(text) -> list[int]``,
    ``decode(ids) -> str``, ``convert_tokens_to_ids``, ``len()``, like the subset of HF tokenizers we use.
    """

    PAD, EOS = 256, 257

    def __init__(self) -> None:
        self.base_vocab = 258
        self.special = {THINK: self.base_vocab, SHIFT: self.base_vocab + 1}

    def __len__(self) -> int:
        return self.base_vocab + len(self.special)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        data = bytes(i for i in ids if 0 <= i < 256)
        return data.decode("utf-8", errors="replace")

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.special[token]


class HFTokenizer:
    """A Hugging Face tokenizer with the state tokens added as special tokens (ids after the base vocabulary)."""

    def __init__(self, tok, base_vocab: int) -> None:
        self.tok = tok
        tok.add_special_tokens({"additional_special_tokens": list(STATE_TOKENS)})
        self.base_vocab = base_vocab
        ids = [tok.convert_tokens_to_ids(t) for t in STATE_TOKENS]
        # Added tokens land at len(tokenizer); when the LM's matrix is padded beyond the tokenizer we remap them.
        self.special = {t: base_vocab + i for i, t in enumerate(STATE_TOKENS)}
        self._hf_ids = dict(zip(STATE_TOKENS, ids))

    def __len__(self) -> int:
        return self.base_vocab + len(STATE_TOKENS)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=add_special_tokens)
        return [i for i in ids if i < self.base_vocab]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self.tok.decode([i for i in ids if i < self.base_vocab], skip_special_tokens=skip_special_tokens)

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.special[token]


def tokenizer_identity(tokenizer) -> str:
    """A short name of a tokenizer's id space (kind, vocabulary size, state-token ids): token ids recorded with
    one identity (a benchmark run's per-step tokens, a preference-pair set) are only meaningful under the same."""
    kind = "byte" if isinstance(tokenizer, ByteTokenizer) else type(getattr(tokenizer, "tok", tokenizer)).__name__
    name = getattr(getattr(tokenizer, "tok", None), "name_or_path", "") or ""
    ids = ",".join(str(tokenizer.convert_tokens_to_ids(t)) for t in STATE_TOKENS)
    return f"{kind}:{name.rsplit('/', 1)[-1]}:{len(tokenizer)}:{ids}"
