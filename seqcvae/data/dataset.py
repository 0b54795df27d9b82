"""Tokenised sequences with their encoded conditions, and deterministic length-bucketed batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqcvae.data.conditions import EncodedConditions
from seqcvae.tokenizers.base import BOS, EOS, PAD, Tokenizer


@dataclass
class Batch:
    """One padded batch. tokens = <bos> x <eos> <pad>...; lengths count x plus <eos>."""

    tokens: torch.Tensor  # (B, T+1) long: <bos> x_1..x_n <eos> pad
    lengths: torch.Tensor  # (B,) long: n + 1 (targets per row, <eos> included)
    cond_values: torch.Tensor  # (B, P) float
    cond_present: torch.Tensor  # (B, P) float
    cond_tags: torch.Tensor  # (B, T) long

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in vars(self).values()))

    @property
    def size(self) -> int:
        return int(self.tokens.shape[0])

    def rows(self, index: slice | torch.Tensor) -> Batch:
        """A subset of the rows (same padded width)."""
        return Batch(*(t[index] for t in vars(self).values()))


class TokenDataset:
    """Token ids (without bos/eos) and encoded conditions of N sequences.

    Ids are stored flat, in one or more chunks of (values, offsets): the ids of chunk row j are
    values[offsets[j]:offsets[j + 1]]. The arrays are numpy arrays in memory or zero-copy views of
    memory-mapped Arrow buffers (seqcvae.data.store), so a dataset of any size costs only its
    conditions and a few integers per row in RAM. `rows` picks and orders the chunk rows.
    """

    def __init__(
        self,
        chunks: Sequence[tuple[np.ndarray, np.ndarray]],
        conditions: EncodedConditions,
        rows: np.ndarray | None = None,
    ):
        self.chunks = list(chunks)
        sizes = [len(off) - 1 for _, off in self.chunks]
        self._starts = np.cumsum([0, *sizes], dtype=np.int64)
        self.rows = np.arange(self._starts[-1], dtype=np.int64) if rows is None else np.asarray(rows)
        if len(self.rows) != len(conditions):
            raise ValueError("rows and conditions differ in length")
        self.conditions = conditions
        all_lengths = (
            np.concatenate([np.diff(off) for _, off in self.chunks]).astype(np.int64)
            if self.chunks
            else np.zeros(0, dtype=np.int64)
        )
        self.lengths = all_lengths[self.rows]

    @classmethod
    def from_ids(cls, token_ids: Sequence[Sequence[int]], conditions: EncodedConditions) -> TokenDataset:
        """One in-memory chunk from per-sequence id lists."""
        offsets = np.zeros(len(token_ids) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(t) for t in token_ids])
        values = np.fromiter((i for t in token_ids for i in t), dtype=np.int32, count=int(offsets[-1]))
        return cls([(values, offsets)], conditions)

    @classmethod
    def build(
        cls,
        sequences: Sequence[str],
        tokenizer: Tokenizer,
        conditions: EncodedConditions,
        max_length: int,
        too_long: str = "truncate",
    ) -> tuple[TokenDataset, int]:
        """Tokenise; sequences over max_length tokens are truncated or dropped ("drop").

        Returns the dataset and how many sequences were over-long.
        """
        ids: list[list[int]] = []
        keep: list[int] = []
        n_long = 0
        for i, s in enumerate(sequences):
            toks = tokenizer.encode(s)
            if len(toks) > max_length:
                n_long += 1
                if too_long == "drop":
                    continue
                toks = toks[:max_length]
            ids.append(toks)
            keep.append(i)
        if len(keep) < len(sequences):
            conditions = conditions.select(np.asarray(keep, dtype=np.int64))
        return cls.from_ids(ids, conditions), n_long

    def __len__(self) -> int:
        return len(self.rows)

    def ids(self, i: int) -> np.ndarray:
        """Token ids of sequence i (a view)."""
        r = int(self.rows[i])
        c = int(np.searchsorted(self._starts, r, side="right")) - 1
        values, offsets = self.chunks[c]
        j = r - int(self._starts[c])
        return values[offsets[j] : offsets[j + 1]]

    def rows_containing(self, token_id: int) -> np.ndarray:
        """The store rows (values of `self.rows`) whose ids contain `token_id`, sorted."""
        hits = []
        for c, (values, offsets) in enumerate(self.chunks):
            pos = np.flatnonzero(values == token_id)
            if len(pos):
                hits.append(self._starts[c] + np.searchsorted(offsets, pos, side="right") - 1)
        if not hits:
            return np.zeros(0, dtype=np.int64)
        found = np.unique(np.concatenate(hits))
        return np.sort(self.rows[np.isin(self.rows, found)])

    def collate(self, idx: Sequence[int] | np.ndarray) -> Batch:
        rows = np.asarray(idx, dtype=np.int64)
        n = self.lengths[rows]
        width = int(n.max()) + 2
        tokens = np.full((len(rows), width), PAD, dtype=np.int64)
        tokens[:, 0] = BOS
        for r, i in enumerate(rows):
            tokens[r, 1 : n[r] + 1] = self.ids(int(i))
            tokens[r, n[r] + 1] = EOS
        cond = self.conditions.select(rows)
        return Batch(
            tokens=torch.from_numpy(tokens),
            lengths=torch.from_numpy(n + 1),
            cond_values=torch.from_numpy(cond.values),
            cond_present=torch.from_numpy(cond.present),
            cond_tags=torch.from_numpy(cond.tags),
        )

    def batches(
        self, batch_size: int, seed: int, epoch: int, shuffle: bool = True, bucket_batches: int = 50
    ) -> list[np.ndarray]:
        """Index batches for one epoch; a pure function of (seed, epoch) so resume can skip ahead.

        Rows are shuffled, cut into pools of `bucket_batches` batches, sorted by length inside each
        pool (less padding), cut into batches, and the batch order shuffled again.
        """
        n = len(self)
        if not shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + batch_size] for i in range(0, n, batch_size)]
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(n)
        pool = batch_size * bucket_batches
        out: list[np.ndarray] = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            out.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
        perm = rng.permutation(len(out))
        return [out[i] for i in perm]

    def without(self, store_rows: np.ndarray) -> TokenDataset:
        """This dataset less the given store rows (values of `self.rows`)."""
        keep = np.flatnonzero(~np.isin(self.rows, store_rows))
        if len(keep) == len(self):
            return self
        return TokenDataset(self.chunks, self.conditions.select(keep), self.rows[keep])

    def head(self, n: int) -> TokenDataset:
        """The first n sequences (file order), e.g. to evaluate on a fixed subset."""
        if n <= 0 or n >= len(self):
            return self
        return TokenDataset(self.chunks, self.conditions.select(np.arange(n)), self.rows[:n])

    def iter_batches(self, batch_size: int) -> Iterator[Batch]:
        """Ordered (length-sorted) batches for evaluation."""
        for idx in self.batches(batch_size, seed=0, epoch=0, shuffle=False):
            yield self.collate(idx)
