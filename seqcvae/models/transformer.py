"""Pre-LN Transformer encoder and causal decoder with a key-value cache.

The decoder sees (z, c) in one of two ways (`condition`):
- "prefix": (z, c) is projected to `condition_tokens` vectors placed before <bos>; every token
  attends to them through ordinary causal self-attention and they are cached like any other token.
- "memory": (z, c) is projected to `condition_tokens` memory vectors and every block gains a
  cross-attention sub-layer to them; their keys/values are computed once per sequence.
BENCHMARKS.md (issue 4) compares the two; "prefix" is the default.
Attention is torch's fused scaled_dot_product_attention.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcvae.errors import ConfigError
from seqcvae.models.output import output_layer
from seqcvae.models.recurrent import dropout_layer


class Block(nn.Module):
    """Pre-LN block: x + Drop(Attn(LN(x))), then x + Drop(MLP(LN(x))); dropout also on the
    attention weights (training mode only)."""

    def __init__(self, d_model: int, heads: int, ff_mult: int = 4, dropout: float = 0.0, cross: bool = False):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        self.heads = heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.cross = cross
        if cross:  # x + CrossAttn(LN(x), memory) between self-attention and the MLP
            self.ln_x = nn.LayerNorm(d_model)
            self.q_x = nn.Linear(d_model, d_model)
            self.kv_x = nn.Linear(d_model, 2 * d_model)
            self.proj_x = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model), nn.GELU(), nn.Linear(ff_mult * d_model, d_model)
        )
        self.dropout = dropout
        self.residual_dropout = dropout_layer(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, h, T, dh)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys/values of memory (B, M, D), each (B, h, M, dh)."""
        k, v = self.kv_x(memory).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(
        self,
        x: torch.Tensor,
        causal: bool = False,
        key_padding: torch.Tensor | None = None,
        memory: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Full sequence: x (B, T, D); key_padding (B, T) True at padding; memory from
        `memory_kv` (cross blocks) -> (B, T, D)."""
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        mask = None if key_padding is None else ~key_padding[:, None, None, :]  # True = may attend
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(
            self._split(q), self._split(k), self._split(v), attn_mask=mask, dropout_p=drop, is_causal=causal
        )
        return self._finish(x, a, memory)

    def step(
        self,
        x: torch.Tensor,
        k_buf: torch.Tensor,
        v_buf: torch.Tensor,
        pos: int,
        memory: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Positions pos..pos+n-1: x (B, n, D). Their K/V are written into the preallocated cache
        buffers (B, h, P, dh) and they attend to positions 0..pos+n-1: no copy of the cache.
        Several positions at once (n > 1) only from pos 0 (the prefix)."""
        n = x.shape[1]
        if n > 1 and pos != 0:
            raise ValueError("several positions per step are only supported from position 0")
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        k_buf[:, :, pos : pos + n] = self._split(k)
        v_buf[:, :, pos : pos + n] = self._split(v)
        a = F.scaled_dot_product_attention(
            self._split(q), k_buf[:, :, : pos + n], v_buf[:, :, : pos + n], is_causal=n > 1
        )
        return self._finish(x, a, memory)

    def _merge(self, a: torch.Tensor) -> torch.Tensor:
        b, h, t, dh = a.shape
        return a.transpose(1, 2).reshape(b, t, h * dh)

    def _finish(
        self, x: torch.Tensor, a: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        drop = self.residual_dropout
        x = x + drop(self.proj(self._merge(a)))
        if self.cross:
            if memory is None:
                raise ValueError("a cross-attention block needs memory")
            q = self._split(self.q_x(self.ln_x(x)))
            x = x + drop(self.proj_x(self._merge(F.scaled_dot_product_attention(q, *memory))))
        return x + drop(self.mlp(self.ln2(x)))


class TransformerEncoder(nn.Module):
    """Condition token + token embeddings + learned positions -> pre-LN blocks -> mu, logvar.

    The output at the condition token (position 0) summarises the sequence (like [CLS]).
    """

    def __init__(
        self,
        *,
        embedding_dim: int,
        d_model: int,
        layers: int,
        heads: int,
        condition_dim: int,
        latent_dim: int,
        max_positions: int,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.inp = nn.Linear(embedding_dim, d_model)
        self.cond = nn.Linear(condition_dim, d_model)
        self.pos = nn.Embedding(max_positions + 1, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads, dropout=dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 2 * latent_dim)

    def forward(
        self, embedded: torch.Tensor, lengths: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """embedded (B, T, E) without <bos>, padded after lengths[b]; c (B, C) -> mu, logvar."""
        b, t, _ = embedded.shape
        x = torch.cat([self.cond(c).unsqueeze(1), self.inp(embedded)], dim=1)
        x = x + self.pos(torch.arange(t + 1, device=x.device))
        steps = torch.arange(t + 1, device=x.device).unsqueeze(0)
        padding = steps > lengths.to(x.device).unsqueeze(1)  # position 0 is the condition token
        for block in self.blocks:
            x = block(x, key_padding=padding)
        mu, logvar = self.head(self.ln(x[:, 0])).chunk(2, dim=-1)
        return mu, logvar


class TransformerDecoder(nn.Module):
    """Causal pre-LN Transformer over <bos> x_1 ... x_T conditioned on (z, c) by `condition`:
    "prefix" (K prefix positions before <bos>) or "memory" (cross-attention to K memory vectors)."""

    def __init__(
        self,
        *,
        embedding_dim: int,
        d_model: int,
        layers: int,
        heads: int,
        latent_dim: int,
        condition_dim: int,
        vocab_size: int,
        max_positions: int,
        dropout: float = 0.0,
        condition: str = "prefix",
        condition_tokens: int = 1,
        output_cutoffs: Sequence[int] = (),
        tied_embedding: nn.Embedding | None = None,
    ):
        super().__init__()
        if condition not in ("prefix", "memory"):
            raise ValueError(f"condition must be 'prefix' or 'memory', got {condition!r}")
        if condition_tokens < 1:
            raise ValueError(f"condition_tokens must be >= 1, got {condition_tokens}")
        self.condition = condition
        self.k = condition_tokens
        self.n_prefix = condition_tokens if condition == "prefix" else 0
        self.d_model = d_model
        self.inp = nn.Linear(embedding_dim, d_model)
        # (z, c) -> K vectors; named `prefix` in both modes so earlier checkpoints keep loading
        self.prefix = nn.Linear(latent_dim + condition_dim, condition_tokens * d_model)
        self.pos = nn.Embedding(max_positions + self.n_prefix, d_model)
        cross = condition == "memory"
        self.blocks = nn.ModuleList(
            Block(d_model, heads, dropout=dropout, cross=cross) for _ in range(layers)
        )
        self.ln = nn.LayerNorm(d_model)
        self.out = output_layer(d_model, vocab_size, output_cutoffs, tied_embedding)
        self.max_positions = max_positions

    def _condition_vectors(self, zc: torch.Tensor) -> torch.Tensor:
        return self.prefix(zc).view(zc.shape[0], self.k, self.d_model)  # (B, K, D)

    def _memories(self, zc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        if self.condition == "prefix":
            return [None] * len(self.blocks)
        memory = self._condition_vectors(zc)
        return [block.memory_kv(memory) for block in self.blocks_list()]

    def forward(self, embedded: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: embedded inputs (B, T, E), zc (B, Z+C) -> logits (B, T, V)."""
        return self.out.logits(self.features(embedded, zc))

    def features(self, embedded: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """Teacher-forced states for `out`: embedded inputs (B, T, E), zc (B, Z+C) -> (B, T, D)."""
        x = self.inp(embedded)
        if self.n_prefix:
            x = torch.cat([self._condition_vectors(zc), x], dim=1)
        x = x + self.pos(torch.arange(x.shape[1], device=x.device))
        for block, memory in zip(self.blocks_list(), self._memories(zc)):
            x = block(x, causal=True, memory=memory)
        return self.ln(x[:, self.n_prefix :])

    def blocks_list(self) -> list[Block]:
        return [typing.cast(Block, b) for b in self.blocks]

    def start(self, zc: torch.Tensor) -> Any:
        """Preallocate per-layer K/V buffers for every position and, for "prefix", fill the first
        K positions with the (z, c) prefix. State: (per-layer (k, v, memory), next position)."""
        size = self.max_positions + self.n_prefix
        memories = self._memories(zc)
        layers = []
        x = None
        if self.n_prefix:
            x = self._condition_vectors(zc) + self.pos.weight[: self.n_prefix]
        for block, memory in zip(self.blocks_list(), memories):
            shape = (zc.shape[0], block.heads, size, self.d_model // block.heads)
            k_buf = zc.new_empty(shape)
            v_buf = zc.new_empty(shape)
            if x is not None:
                x = block.step(x, k_buf, v_buf, 0, memory)
            layers.append((k_buf, v_buf, memory))
        return (layers, self.n_prefix)

    def step(self, embedded: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One token at the next position, attending to the cache: no re-run of the prefix."""
        layers, pos = state
        if pos >= self.max_positions + self.n_prefix:
            raise ConfigError(
                f"decoding past the Transformer decoder's {self.max_positions} positions (the longest "
                f"sequence it was built for, <bos> and <eos> included): ask for at most "
                f"{self.max_positions - 2} tokens"
            )
        x = (self.inp(embedded) + self.pos.weight[pos]).unsqueeze(1)
        for block, (k_buf, v_buf, memory) in zip(self.blocks_list(), layers):
            x = block.step(x, k_buf, v_buf, pos, memory)
        return self.out.logits(self.ln(x[:, 0])), (layers, pos + 1)

    @staticmethod
    def reorder(state: Any, index: torch.Tensor) -> Any:
        layers, pos = state

        def pick(memory: tuple[torch.Tensor, torch.Tensor] | None) -> Any:
            return None if memory is None else tuple(m.index_select(0, index) for m in memory)

        return (
            [(k.index_select(0, index), v.index_select(0, index), pick(m)) for k, v, m in layers],
            pos,
        )
