"""Vocabulary and the tokenizer protocol shared by the SMILES and text paths."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
NEVER_SAMPLED = (PAD, BOS, UNK)  # control tokens that are never a valid next token


def content_ids(ids: Sequence[int]) -> list[int]:
    """The ids a tokenizer decodes: up to the first <eos>, without <pad>/<bos>."""
    out: list[int] = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(i)
    return out


class Tokenizer(Protocol):
    """What the data pipeline, model and generator need from a tokenizer."""

    kind: str

    @property
    def vocab_size(self) -> int: ...

    def tokens(self, text: str) -> list[str]:
        """The token strings of a text, one per id of encode (for messages naming unknown ones)."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids without <bos>/<eos>."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Inverse of encode; stops at <eos>, skips <pad>/<bos>."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


class Vocabulary:
    """Bidirectional token <-> id map with the four special tokens at ids 0..3."""

    def __init__(self, tokens: Sequence[str]):
        if tuple(tokens[:4]) != SPECIAL_TOKENS:
            raise ValueError(f"vocabulary must start with {SPECIAL_TOKENS}, got {tokens[:4]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary has duplicate tokens")
        self.tokens: list[str] = list(tokens)
        self.index: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], min_count: int = 1) -> Vocabulary:
        counts: Counter[str] = Counter()
        for toks in token_lists:
            counts.update(toks)
        # Sorted by frequency, then lexically: deterministic for a given corpus.
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls([*SPECIAL_TOKENS, *(t for t in kept if t not in SPECIAL_TOKENS)])

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self.index.get(token, UNK)
