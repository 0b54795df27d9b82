"""Transfer's bonus on the input's own tokens (`Generator.transfer(keep=...)`, `transfer --keep`).

Each row carries the multiset of its source's tokens (<pad>, <bos>, <unk> aside) and one end of
sentence. At every decoding step `weight` is added to the logits of the source tokens the row
has not written yet, so the rewrite reuses the input's words, each as often as the input has it
and no more (a token written once loses its bonus unless the input holds it twice): the bonus
pulls toward the input's words without rewarding their repetition.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqcvae.tokenizers.base import EOS, NEVER_SAMPLED


class SourceBonus:
    """(rows, V) counts of the source tokens each row has still to write, and the bonus."""

    def __init__(self, counts: torch.Tensor, weight: float):
        self.counts = counts
        self.weight = weight

    @classmethod
    def of(cls, ids: Sequence[Sequence[int]], vocab: int, weight: float) -> SourceBonus:
        counts = torch.zeros(len(ids), vocab, dtype=torch.int16)
        for row, seq in enumerate(ids):
            for t in seq:
                if t not in NEVER_SAMPLED:
                    counts[row, t] += 1
            counts[row, EOS] = 1  # the input's end: the rewrite ends where the input's words run out
        return cls(counts, weight)

    def rows(self, index: torch.Tensor | slice) -> SourceBonus:
        """The bonus of rows `index` (a slice, or indices: repeated for beams), on its own."""
        return SourceBonus(self.counts[index].clone(), self.weight)

    def to(self, device: torch.device | str) -> SourceBonus:
        return SourceBonus(self.counts.to(device), self.weight)

    def bias(self) -> torch.Tensor:
        """(rows, V) float: the weight on every token still to write."""
        return (self.counts > 0).float() * self.weight

    def reorder(self, index: torch.Tensor) -> None:
        self.counts = self.counts[index]

    def consume(self, token: torch.Tensor) -> None:
        """Each row has written `token` (rows,): one fewer of it is left to reuse."""
        rows = torch.arange(len(token), device=token.device)
        left = self.counts[rows, token]
        self.counts[rows, token] = (left - 1).clamp_(min=0)
