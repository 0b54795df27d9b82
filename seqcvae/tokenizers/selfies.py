"""SELFIES tokens for SMILES data (the `selfies` package): every token string decodes to a valid
molecule, so a model that writes SELFIES cannot emit an unparsable structure.

The tokenizer reads and writes SMILES: `encode` converts a SMILES string to SELFIES and splits it
into its bracketed tokens, `decode` joins tokens and converts back to SMILES. Everything around it
(the data store, RDKit checks, novelty, the latent tools) keeps working on SMILES.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from seqcvae.errors import ConfigError
from seqcvae.tokenizers.base import Vocabulary, content_ids
from seqcvae.tokenizers.smiles import UnreadableSmilesError


def _selfies() -> Any:
    try:
        import selfies
    except ImportError:
        raise ConfigError(
            "data.representation = 'selfies' needs the selfies package: pip install 'seqcvae[selfies]'"
        ) from None
    return selfies


def selfies_tokens(smiles: str) -> list[str]:
    """The SELFIES tokens of a SMILES string; UnreadableSmilesError if it cannot be converted."""
    sf = _selfies()
    try:
        return list(sf.split_selfies(sf.encoder(smiles)))
    except sf.EncoderError as exc:
        raise UnreadableSmilesError(f"SMILES {smiles!r} cannot be written as SELFIES: {exc}") from None


class SelfiesTokenizer:
    """SELFIES tokens over a vocabulary learned from the training molecules (read as SMILES)."""

    kind = "selfies"

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    @classmethod
    def train(cls, smiles: Iterable[str]) -> SelfiesTokenizer:
        return cls(Vocabulary.build(selfies_tokens(s) for s in smiles))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokens(self, text: str) -> list[str]:
        return selfies_tokens(text)

    def encode(self, text: str) -> list[int]:
        return [self.vocab.id(t) for t in selfies_tokens(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """The SMILES of the SELFIES tokens (empty when the selfies package cannot decode them)."""
        sf = _selfies()
        try:
            return str(sf.decoder("".join(self.vocab.tokens[i] for i in content_ids(ids))) or "")
        except sf.DecoderError:
            return ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokens": self.vocab.tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelfiesTokenizer:
        return cls(Vocabulary(data["tokens"]))
