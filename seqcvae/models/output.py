"""The decoders' output layer: decoder states -> next-token distribution.

Three kinds, one interface (`logits` for the whole distribution, `token_nll` for the loss):

- `SoftmaxOutput`: one linear layer over the vocabulary (every model before issue 16's PTB work;
  its parameters keep the names `weight` and `bias`, so earlier checkpoints load unchanged).
- `AdaptiveOutput`: the adaptive softmax (Grave et al. 2017) for large vocabularies: the
  `cutoffs[0]` most frequent ids (SentencePiece numbers its pieces by score, i.e. by frequency)
  and one entry per tail cluster share a full-width head; each tail cluster has its own
  projection, a quarter of the width narrower per cluster. It is an exact distribution (its
  `logits` are normalised log-probabilities), and its loss only touches the tail clusters of the
  targets that fall in them: on PTB's 8,882 pieces a training step at the `text_vader` widths
  runs about 3x the tokens per second of the full softmax (scripts/bench_output_layer.py).
- `TiedOutput`: a full softmax whose output vectors are the token embeddings (weight tying, Press
  & Wolf 2017; Inan et al. 2017), reached through a projection of the decoder state to the
  embedding width: one matrix serves as input and output, which regularises a language model
  and gives rare tokens the updates of both roles.
- `TiedAdaptiveOutput`: the adaptive softmax's clusters with tied output vectors (Baevski & Auli
  2019 tie the adaptive softmax to the input embeddings the same way): the head scores its
  `cutoffs[0]` words through one projection to the embedding width and the tail clusters by a
  small linear layer; each tail cluster scores its words through a projection of its own. As
  `AdaptiveOutput`, the loss touches a tail cluster only for the targets in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seqcvae.errors import ConfigError
from seqcvae.models.losses import token_nll

# Each tail cluster's projection is this many times narrower than the one before (PyTorch's
# default div_value).
TAIL_SHRINK = 4.0


class SoftmaxOutput(nn.Linear):
    """A full softmax over the vocabulary."""

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """States (..., H) -> logits (..., V)."""
        return self(h)

    def token_nll(self, h: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
        """States (B, T, H), targets (B, T) -> NLL in nats (B, T), 0 where targets are pad_id."""
        return token_nll(self(h).float(), targets, pad_id)


class AdaptiveOutput(nn.AdaptiveLogSoftmaxWithLoss):
    """The adaptive softmax; `logits` are log-probabilities (softmax of them is the distribution)."""

    def __init__(self, hidden: int, vocab_size: int, cutoffs: Sequence[int]):
        super().__init__(hidden, vocab_size, list(cutoffs), div_value=TAIL_SHRINK, head_bias=True)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """States (..., H) -> log-probabilities (..., V)."""
        flat = h.reshape(-1, h.shape[-1]).float()
        return self.log_prob(flat).view(*h.shape[:-1], self.n_classes)

    def token_nll(self, h: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
        """States (B, T, H), targets (B, T) -> NLL in nats (B, T), 0 where targets are pad_id."""
        keep = targets != pad_id
        nll = torch.zeros(targets.shape, dtype=torch.float32, device=targets.device)
        if bool(keep.any()):
            out = self(h[keep].float(), targets[keep])
            nll = nll.masked_scatter(keep, -out.output.float())
        return nll


class TiedOutput(nn.Module):
    """logits = project(h) @ E^T + bias, with E the model's token embeddings (not a parameter of
    this module, so each weight is stored once; the owner of the embeddings registers them)."""

    def __init__(self, hidden: int, embedding: nn.Embedding):
        super().__init__()
        self.project = nn.Linear(hidden, embedding.embedding_dim)
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))
        self._embedding = (embedding,)  # a tuple: not registered as a submodule

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """States (..., H) -> logits (..., V)."""
        return F.linear(self.project(h), self._embedding[0].weight, self.bias)

    def token_nll(self, h: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
        """States (B, T, H), targets (B, T) -> NLL in nats (B, T), 0 where targets are pad_id."""
        return token_nll(self.logits(h).float(), targets, pad_id)


class TiedAdaptiveOutput(nn.Module):
    """The adaptive softmax over the token embeddings E: the head is softmax([project(h) @ E[:c0]^T
    + b, cluster(h)]) over the c0 most frequent ids and one entry per tail cluster; tail cluster i
    is softmax(project_i(h) @ E[lo_i:hi_i]^T + b_i), scaled by its head entry. E is not a
    parameter of this module (see TiedOutput); `logits` are normalised log-probabilities."""

    def __init__(self, hidden: int, embedding: nn.Embedding, cutoffs: Sequence[int]):
        super().__init__()
        width, vocab = embedding.embedding_dim, embedding.num_embeddings
        self.bounds = [0, *cutoffs, vocab]
        self.head_project = nn.Linear(hidden, width)
        self.head_bias = nn.Parameter(torch.zeros(self.bounds[1]))
        self.cluster = nn.Linear(hidden, len(cutoffs))
        self.tail_project = nn.ModuleList(nn.Linear(hidden, width) for _ in cutoffs)
        self.tail_bias = nn.ParameterList(
            nn.Parameter(torch.zeros(hi - lo)) for lo, hi in zip(self.bounds[1:], self.bounds[2:])
        )
        self._embedding = (embedding,)  # a tuple: not registered as a submodule

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """States (N, H) -> head log-probabilities (N, c0 + clusters)."""
        rows = self._embedding[0].weight[: self.bounds[1]].float()
        words = F.linear(self.head_project(h), rows, self.head_bias)
        return F.log_softmax(torch.cat([words, self.cluster(h)], dim=-1), dim=-1)

    def _tail(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """States (N, H) -> log-probabilities (N, hi - lo) within tail cluster i."""
        lo, hi = self.bounds[i + 1], self.bounds[i + 2]
        rows = self._embedding[0].weight[lo:hi].float()
        return F.log_softmax(F.linear(self.tail_project[i](h), rows, self.tail_bias[i]), dim=-1)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """States (..., H) -> log-probabilities (..., V)."""
        flat = h.reshape(-1, h.shape[-1]).float()
        head = self._head(flat)
        c0 = self.bounds[1]
        parts = [head[:, :c0]]
        parts += [head[:, c0 + i, None] + self._tail(flat, i) for i in range(len(self.tail_project))]
        return torch.cat(parts, dim=-1).view(*h.shape[:-1], self.bounds[-1])

    def token_nll(self, h: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
        """States (B, T, H), targets (B, T) -> NLL in nats (B, T), 0 where targets are pad_id."""
        keep = targets != pad_id
        nll = torch.zeros(targets.shape, dtype=torch.float32, device=targets.device)
        if not bool(keep.any()):
            return nll
        flat, wanted = h[keep].float(), targets[keep]
        head = self._head(flat)
        c0 = self.bounds[1]
        logp = head.gather(-1, wanted.clamp(max=c0 - 1).unsqueeze(-1)).squeeze(-1)
        for i in range(len(self.tail_project)):
            lo, hi = self.bounds[i + 1], self.bounds[i + 2]
            rows = ((wanted >= lo) & (wanted < hi)).nonzero().squeeze(-1)
            if rows.numel():
                within = self._tail(flat[rows], i).gather(-1, (wanted[rows] - lo).unsqueeze(-1)).squeeze(-1)
                logp = logp.index_copy(0, rows, head[rows, c0 + i] + within)
        return nll.masked_scatter(keep, -logp)


OutputLayer = SoftmaxOutput | AdaptiveOutput | TiedOutput | TiedAdaptiveOutput


def check_cutoffs(cutoffs: Sequence[int], vocab_size: int) -> None:
    """ConfigError unless cutoffs rise strictly and lie inside (0, vocab_size)."""
    values = list(cutoffs)
    if any(not isinstance(c, int) or isinstance(c, bool) for c in values):
        raise ConfigError(f"model.output_cutoffs={values!r}: expected whole numbers")
    rising = all(a < b for a, b in zip(values, values[1:]))
    if not rising or (values and (values[0] <= 0 or values[-1] >= vocab_size)):
        raise ConfigError(
            f"model.output_cutoffs={values!r} does not fit a vocabulary of {vocab_size}: expected "
            f"rising ids between 1 and {vocab_size - 1} (e.g. [2000] for a 10,000-piece vocabulary), "
            f"or [] for the full softmax"
        )


def output_layer(
    hidden: int, vocab_size: int, cutoffs: Sequence[int] = (), tied: nn.Embedding | None = None
) -> OutputLayer:
    """The full softmax when `cutoffs` is empty, else the adaptive softmax with those clusters;
    either over the embeddings `tied` when given."""
    if not cutoffs:
        return SoftmaxOutput(hidden, vocab_size) if tied is None else TiedOutput(hidden, tied)
    check_cutoffs(cutoffs, vocab_size)
    if tied is not None:
        return TiedAdaptiveOutput(hidden, tied, cutoffs)
    return AdaptiveOutput(hidden, vocab_size, cutoffs)
