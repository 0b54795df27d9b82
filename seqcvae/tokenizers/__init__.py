"""Tokenizers share one protocol: special ids pad=0, bos=1, eos=2, unk=3; JSON round trip."""

from seqcvae.tokenizers.base import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Tokenizer, Vocabulary
from seqcvae.tokenizers.smiles import SmilesTokenizer, split_smiles

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "UNK",
    "SmilesTokenizer",
    "Tokenizer",
    "Vocabulary",
    "split_smiles",
    "load_tokenizer",
]


def load_tokenizer(data: dict) -> Tokenizer:
    """Rebuild a tokenizer from its `to_dict()` form (as stored in checkpoints)."""
    from seqcvae.errors import CheckpointError

    kind = data.get("kind")
    if kind == SmilesTokenizer.kind:
        return SmilesTokenizer.from_dict(data)
    if kind == "selfies":
        from seqcvae.tokenizers.selfies import SelfiesTokenizer

        return SelfiesTokenizer.from_dict(data)
    if kind == "sentencepiece":
        from seqcvae.tokenizers.sentencepiece import SentencePieceTokenizer

        return SentencePieceTokenizer.from_dict(data)
    raise CheckpointError(f"unknown tokenizer kind {kind!r}; expected smiles, selfies or sentencepiece")
