"""SMILES regex tokenizer: bracket atoms, two-letter halogens, %nn ring closures; exact round trip."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from seqcvae.errors import DataError
from seqcvae.tokenizers.base import Vocabulary, content_ids

# Order matters: bracket atoms first, then two-letter elements, then %nn ring bonds, then single chars.
SMILES_PATTERN = re.compile(
    r"(\[[^\]]+\]|Br|Cl|Si|Se|se|As|as|Te|te|@@|%\d{2}|[BCNOPSFIbcnops]|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|\d)"
)


class UnreadableSmilesError(DataError, ValueError):
    """A SMILES string with characters the regex tokenizer cannot read (a user error, so a DataError;
    also a ValueError, which the data pipeline counts as an untokenizable row)."""


def split_smiles(smiles: str) -> list[str]:
    """Split a SMILES string into tokens; raises UnreadableSmilesError if characters are left over."""
    tokens = SMILES_PATTERN.findall(smiles)
    if "".join(tokens) != smiles:
        leftover = SMILES_PATTERN.sub("", smiles)
        raise UnreadableSmilesError(
            f"SMILES {smiles!r} has characters the tokenizer cannot read: {leftover!r}"
        )
    return tokens


class SmilesTokenizer:
    """Regex tokenizer over a vocabulary learned from the training SMILES."""

    kind = "smiles"

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    @classmethod
    def train(cls, smiles: Iterable[str]) -> SmilesTokenizer:
        return cls(Vocabulary.build(split_smiles(s) for s in smiles))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokens(self, text: str) -> list[str]:
        return split_smiles(text)

    def encode(self, text: str) -> list[int]:
        return [self.vocab.id(t) for t in split_smiles(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.vocab.tokens[i] for i in content_ids(ids))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokens": self.vocab.tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SmilesTokenizer:
        return cls(Vocabulary(data["tokens"]))
