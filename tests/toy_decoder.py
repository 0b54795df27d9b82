"""A toy model for decoding tests: the next-token logits are a known function of the row and the
prefix, so that exact answers (brute force, analytic distributions) are at hand."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from seqcvae.tokenizers.base import BOS, EOS, NEVER_SAMPLED

Prefix = tuple[int, ...]
LogitsFn = Callable[[int, Prefix], torch.Tensor]  # (row key, prefix so far) -> logits (V,)


class _Decoder:
    """start/step/reorder over a python state: one (row key, prefix) per row."""

    def __init__(self, fn: LogitsFn, vocab: int):
        self.fn, self.vocab = fn, vocab
        self.calls = 0  # step calls, to see how long a search ran

    def start(self, zc: torch.Tensor) -> list[tuple[int, Prefix]]:
        return [(int(k), ()) for k in zc[:, 0].round().tolist()]

    def step(self, embedded: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        self.calls += 1
        tokens = embedded.argmax(-1).tolist()
        state = [(key, p if tok == BOS else (*p, tok)) for (key, p), tok in zip(state, tokens)]
        return torch.stack([self.fn(key, p) for key, p in state]), state

    @staticmethod
    def reorder(state: Any, index: torch.Tensor) -> Any:
        return [state[i] for i in index.tolist()]


FREE = -1  # the row key of the unconditioned copy of every row (classifier-free guidance)


class ToyModel(nn.Module):
    """Stands in for a CVAE in decode_tokens / beam_search: (z, c)[:, 0] is the row key. Under
    guidance, rows given as z (n, 0) and c (n, 1) = their key are contrasted with key FREE."""

    def __init__(self, fn: LogitsFn, vocab: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, vocab)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.eye(vocab))  # one-hot: the decoder reads tokens back
        self.decoder = _Decoder(fn, vocab)

    def unspecified_conditions(self, n: int) -> torch.Tensor:
        return torch.full((n, 1), float(FREE))


def guided(fn: LogitsFn, weight: float) -> LogitsFn:
    """The logits that classifier-free guidance of weight w decodes from, written out."""
    return lambda key, prefix: fn(FREE, prefix) + weight * (fn(key, prefix) - fn(FREE, prefix))


def random_logits(seed: int, vocab: int, scale: float = 2.0, eos_bias: float = 0.0) -> LogitsFn:
    """Pseudo-random logits for every (row key, prefix), the same whenever asked."""

    table: dict[tuple[int, Prefix], torch.Tensor] = {}

    def fn(key: int, prefix: Prefix) -> torch.Tensor:
        if (key, prefix) not in table:
            g = torch.Generator().manual_seed(hash((seed, key, prefix)) & 0xFFFFFFFF)
            logits = torch.randn(vocab, generator=g) * scale
            logits[EOS] += eos_bias
            table[key, prefix] = logits
        return table[key, prefix].clone()

    return fn


def log_prob(fn: LogitsFn, key: int, seq: Prefix) -> float:
    """log p(seq) under the toy model, as decoding scores it (log_softmax over the whole vocab)."""
    return sum(float(fn(key, seq[:t]).log_softmax(-1)[tok]) for t, tok in enumerate(seq))


def all_sequences(vocab: int, max_length: int) -> Iterator[Prefix]:
    """Every sequence a decoder may output: up to max_length free tokens then <eos>, or
    max_length + 1 free tokens cut off."""
    free = [t for t in range(vocab) if t not in NEVER_SAMPLED and t != EOS]
    for n in range(max_length + 1):
        for body in itertools.product(free, repeat=n):
            yield (*body, EOS)
    yield from itertools.product(free, repeat=max_length + 1)


def brute_force_best(fn: LogitsFn, key: int, vocab: int, max_length: int, alpha: float) -> Prefix:
    return max(all_sequences(vocab, max_length), key=lambda s: log_prob(fn, key, s) / len(s) ** alpha)
