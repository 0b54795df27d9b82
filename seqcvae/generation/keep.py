"""Transfer's bonus on the input's own tokens (`Generator.transfer(keep=...)`, `transfer --keep`).

Two ways to pull a rewrite toward its input, both adding `weight` to some logits at every step:

- `OrderedBonus` (mode "order"): each row carries its source in order and a pointer
  to the next token to copy; the bonus goes to the token at the pointer and, with falling shares
  (`ORDER_SHARES`), to the two after it, so the rewrite copies the input in its order and may
  replace or drop a token or two (writing a token ahead moves the pointer past it). A token that
  matches none of them (an insertion, or a replacement) leaves the pointer where it is. With
  subword pieces (`joins`: the pieces that continue the word of the piece before them), a
  continuing piece gets its share only at the pointer and only right after the row copied the
  piece before it, so that a copy never grafts the rest of an input word onto another word
  ("▁no" rewritten as "▁great", then "thing" copied: "greatthing").
- mode "style" (transfer's default): the ordered bonus without a share for the input tokens that
  carry its source style, by the model's own reading (`transfer_search.style_scale`), so those
  are rewritten and the rest copied (a word is left free whole when any of its pieces marks the
  style).
- `BagBonus` (mode "bag"): each row carries the multiset of its source's tokens (<pad>, <bos>,
  <unk> aside) and one end of sentence; the bonus goes to every source token the row has not
  written yet, so the rewrite reuses the input's words, each as often as the input has it and no
  more (a token written once loses its bonus unless the input holds it twice).

On Yelp the ordered bonus keeps more of the input than the bag at the same transfer accuracy, and
the style mode more than the plain order (BENCHMARKS.md, issue 16, sessions 14 and 15).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqcvae.generation.transfer_settings import check_keep_mode
from seqcvae.tokenizers.base import EOS, NEVER_SAMPLED

ORDER_SHARES = (1.0, 0.5, 0.25)  # of the bonus: the next source token, then the two after it
ORDER_WINDOW = len(ORDER_SHARES)


class SourceBonus:
    """A bonus on a batch of rows' source tokens; one row per decoded row, kept in step with
    decoding (bias before a step, consume after it, reorder when rows are dropped or beams move)."""

    weight: float

    @staticmethod
    def of(
        ids: Sequence[Sequence[int]],
        vocab: int,
        weight: float,
        mode: str = "order",
        scale: Sequence[Sequence[float]] | None = None,
        joins: Sequence[Sequence[bool]] | None = None,
    ) -> SourceBonus:
        """The bonus for inputs `ids` (token ids, no <bos> / <eos>): in order (with "style", each
        token's share of it in `scale`; `joins`, the tokens that continue a word, see the module)
        or as a bag."""
        check_keep_mode(mode)
        if mode == "bag":
            return BagBonus.build(ids, vocab, weight)
        if mode == "style" and scale is None:
            raise ValueError('keep mode "style" needs the scale of each input token')
        return OrderedBonus.build(ids, vocab, weight, scale if mode == "style" else None, joins)

    def rows(self, index: torch.Tensor | slice) -> SourceBonus:
        """The bonus of rows `index` (a slice, or indices: repeated for beams), on its own."""
        raise NotImplementedError

    def to(self, device: torch.device | str) -> SourceBonus:
        raise NotImplementedError

    def bias(self) -> torch.Tensor:
        """(rows, V) float: what to add to each row's logits at this step."""
        raise NotImplementedError

    def reorder(self, index: torch.Tensor) -> None:
        raise NotImplementedError

    def consume(self, token: torch.Tensor) -> None:
        """Each row has written `token` (rows,)."""
        raise NotImplementedError


class BagBonus(SourceBonus):
    """(rows, V) counts of the source tokens each row has still to write, and the bonus."""

    def __init__(self, counts: torch.Tensor, weight: float):
        self.counts = counts
        self.weight = weight

    @classmethod
    def build(cls, ids: Sequence[Sequence[int]], vocab: int, weight: float) -> BagBonus:
        counts = torch.zeros(len(ids), vocab, dtype=torch.int16)
        for row, seq in enumerate(ids):
            for t in seq:
                if t not in NEVER_SAMPLED:
                    counts[row, t] += 1
            counts[row, EOS] = 1  # the input's end: the rewrite ends where the input's words run out
        return cls(counts, weight)

    def rows(self, index: torch.Tensor | slice) -> BagBonus:
        return BagBonus(self.counts[index].clone(), self.weight)

    def to(self, device: torch.device | str) -> BagBonus:
        return BagBonus(self.counts.to(device), self.weight)

    def bias(self) -> torch.Tensor:
        return (self.counts > 0).float() * self.weight

    def reorder(self, index: torch.Tensor) -> None:
        self.counts = self.counts[index]

    def consume(self, token: torch.Tensor) -> None:
        """One fewer of the written token is left to reuse."""
        rows = torch.arange(len(token), device=token.device)
        left = self.counts[rows, token]
        self.counts[rows, token] = (left - 1).clamp_(min=0)


class OrderedBonus(SourceBonus):
    """(rows, L) source tokens in order (then <eos>, then -1), a (rows,) pointer, the vocabulary
    size, the bonus, (rows, L) a scale of the bonus per source position (1: the whole bonus;
    0: none, so that the decoder is free to rewrite that token), (rows, L) bool `joins`: the
    positions that continue the word of the one before, and (rows,) bool `copying`: whether the
    row's last token was a copy (it moved the pointer)."""

    def __init__(
        self,
        source: torch.Tensor,
        pointer: torch.Tensor,
        vocab: int,
        weight: float,
        scale: torch.Tensor,
        joins: torch.Tensor,
        copying: torch.Tensor,
    ):
        self.source = source
        self.pointer = pointer
        self.vocab = vocab
        self.weight = weight
        self.scale = scale
        self.joins = joins
        self.copying = copying

    @classmethod
    def build(
        cls,
        ids: Sequence[Sequence[int]],
        vocab: int,
        weight: float,
        scale: Sequence[Sequence[float]] | None = None,
        joins: Sequence[Sequence[bool]] | None = None,
    ) -> OrderedBonus:
        """`scale[i][t]`: the share of the bonus that row i's token t keeps (default 1 each);
        `joins[i][t]`: whether row i's token t continues the word of token t - 1 (default: none
        does, every token is a word of its own)."""
        rows = [
            [
                (t, 1.0 if scale is None else float(scale[i][k]), joins is not None and bool(joins[i][k]))
                for k, t in enumerate(seq)
                if t not in NEVER_SAMPLED
            ]
            + [(EOS, 1.0, False)]
            for i, seq in enumerate(ids)
        ]
        width = max((len(r) for r in rows), default=1) + ORDER_WINDOW
        source = torch.full((len(rows), width), -1, dtype=torch.long)
        scales = torch.zeros(len(rows), width)
        joined = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            source[i, : len(row)] = torch.tensor([t for t, _, _ in row], dtype=torch.long)
            scales[i, : len(row)] = torch.tensor([w for _, w, _ in row])
            joined[i, : len(row)] = torch.tensor([j for _, _, j in row])
        n = len(rows)
        pointer = torch.zeros(n, dtype=torch.long)
        return cls(source, pointer, vocab, weight, scales, joined, torch.zeros(n, dtype=torch.bool))

    def rows(self, index: torch.Tensor | slice) -> OrderedBonus:
        return OrderedBonus(
            self.source[index].clone(),
            self.pointer[index].clone(),
            self.vocab,
            self.weight,
            self.scale[index],
            self.joins[index],
            self.copying[index].clone(),
        )

    def to(self, device: torch.device | str) -> OrderedBonus:
        return OrderedBonus(
            self.source.to(device),
            self.pointer.to(device),
            self.vocab,
            self.weight,
            self.scale.to(device),
            self.joins.to(device),
            self.copying.to(device),
        )

    def _positions(self) -> torch.Tensor:
        """(rows, window) the pointer's position and those after it (the last column past the end)."""
        steps = torch.arange(ORDER_WINDOW, device=self.pointer.device)
        return (self.pointer.unsqueeze(1) + steps).clamp_(max=self.source.shape[1] - 1)

    def _ahead(self) -> torch.Tensor:
        """(rows, window) the source tokens at the pointer and after it (-1 past the end)."""
        return self.source.gather(1, self._positions())

    def bias(self) -> torch.Tensor:
        pos = self._positions()
        ahead = self.source.gather(1, pos)
        values = self.scale.gather(1, pos) * torch.tensor(ORDER_SHARES, device=ahead.device) * self.weight
        # a piece that continues a word is copied only right after the piece before it
        at_pointer = torch.zeros_like(ahead, dtype=torch.bool)
        at_pointer[:, 0] = self.copying
        values = torch.where(self.joins.gather(1, pos) & ~at_pointer, 0.0, values)
        out = torch.zeros(len(ahead), self.vocab + 1, device=ahead.device)
        # the nearer position's share wins where a token stands at two of them: write the far ones first
        for j in reversed(range(ORDER_WINDOW)):
            col = ahead[:, j : j + 1]
            out.scatter_(1, torch.where(col < 0, self.vocab, col), values[:, j : j + 1])
        return out[:, : self.vocab]

    def reorder(self, index: torch.Tensor) -> None:
        self.source, self.pointer, self.scale = self.source[index], self.pointer[index], self.scale[index]
        self.joins, self.copying = self.joins[index], self.copying[index]

    def consume(self, token: torch.Tensor) -> None:
        """The pointer moves past the first of the tokens ahead that the row wrote, if any."""
        hit = self._ahead() == token.unsqueeze(1)  # (rows, window)
        first = hit.float().argmax(dim=1)
        self.copying = hit.any(dim=1)
        self.pointer = torch.where(self.copying, self.pointer + first + 1, self.pointer)
