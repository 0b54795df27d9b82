"""Randomised SMILES for the encoder: the same molecule spelled another way (Bjerrum 2017), so z
has to describe the molecule rather than its string. The decoder's targets are unchanged."""

from __future__ import annotations

import torch

from seqcvae.data.dataset import Batch
from seqcvae.tokenizers.base import BOS, EOS, PAD, UNK, Tokenizer


def encoder_view(
    b: Batch, tokenizer: Tokenizer, p: float, max_length: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(tokens (B, T'+1), lengths (B,)) in which each row is, with probability p, a random SMILES
    of its molecule (RDKit, seeded from `generator`); a row keeps its own string when it is not
    picked, or when the random one has tokens outside the vocabulary or is over max_length.
    None when p is 0 (the encoder reads `b.tokens`)."""
    if p <= 0:
        return None
    from seqcvae.chem.mol import random_smiles
    from seqcvae.tokenizers.smiles import UnreadableSmilesError

    pick = (torch.rand(b.size, generator=generator) < p).tolist()
    seeds = torch.randint(0, 2**31 - 1, (b.size,), generator=generator).tolist()
    rows: list[list[int]] = []
    for i in range(b.size):
        n = int(b.lengths[i]) - 1  # content tokens (lengths count <eos>)
        own = b.tokens[i, 1 : n + 1].tolist()
        ids = own
        if pick[i]:
            other = random_smiles(tokenizer.decode(own), int(seeds[i]))
            if other is not None:
                try:
                    cand = tokenizer.encode(other)
                except UnreadableSmilesError:
                    cand = []
                if cand and UNK not in cand and len(cand) <= max_length:
                    ids = cand
        rows.append(ids)
    width = max(len(r) for r in rows) + 2
    tokens = torch.full((b.size, width), PAD, dtype=b.tokens.dtype)
    tokens[:, 0] = BOS
    for i, r in enumerate(rows):
        tokens[i, 1 : len(r) + 1] = torch.tensor(r, dtype=b.tokens.dtype)
        tokens[i, len(r) + 1] = EOS
    lengths = torch.tensor([len(r) + 1 for r in rows], dtype=b.lengths.dtype)
    return tokens, lengths
