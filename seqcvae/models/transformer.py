"""Pre-LN Transformer encoder and causal decoder with a key-value cache.

The decoder sees (z, c) as one prefix vector at position 0 (a "memory" of one token), chosen over
cross-attention because it needs no extra attention per layer and caches like any other token.
Attention is torch's fused scaled_dot_product_attention.
"""

from __future__ import annotations

import typing
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Pre-LN block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, heads: int, ff_mult: int = 4, dropout: float = 0.0):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        self.heads = heads
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model), nn.GELU(), nn.Linear(ff_mult * d_model, d_model)
        )
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, h, T, dh)

    def forward(
        self, x: torch.Tensor, causal: bool = False, key_padding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Full sequence: x (B, T, D); key_padding (B, T) True at padding -> (B, T, D)."""
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        mask = None if key_padding is None else ~key_padding[:, None, None, :]  # True = may attend
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(
            self._split(q), self._split(k), self._split(v), attn_mask=mask, dropout_p=drop, is_causal=causal
        )
        return self._finish(x, a)

    def step(self, x: torch.Tensor, k_buf: torch.Tensor, v_buf: torch.Tensor, pos: int) -> torch.Tensor:
        """One position: x (B, 1, D). Its K/V are written into the preallocated cache buffers
        (B, h, P, dh) at `pos` and it attends to positions 0..pos: no copy of the cache."""
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        k_buf[:, :, pos : pos + 1] = self._split(k)
        v_buf[:, :, pos : pos + 1] = self._split(v)
        a = F.scaled_dot_product_attention(self._split(q), k_buf[:, :, : pos + 1], v_buf[:, :, : pos + 1])
        return self._finish(x, a)

    def _finish(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        b, h, t, dh = a.shape
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, h * dh))
        return x + self.mlp(self.ln2(x))


class TransformerEncoder(nn.Module):
    """Condition token + token embeddings + learned positions -> pre-LN blocks -> mu, logvar.

    The output at the condition token (position 0) summarises the sequence (like [CLS]).
    """

    def __init__(
        self,
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
    """Causal pre-LN Transformer; position 0 holds the (z, c) prefix, then <bos> x_1 ... x_T."""

    def __init__(
        self,
        embedding_dim: int,
        d_model: int,
        layers: int,
        heads: int,
        latent_dim: int,
        condition_dim: int,
        vocab_size: int,
        max_positions: int,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.inp = nn.Linear(embedding_dim, d_model)
        self.prefix = nn.Linear(latent_dim + condition_dim, d_model)
        self.pos = nn.Embedding(max_positions + 1, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads, dropout=dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab_size)
        self.max_positions = max_positions

    def forward(self, embedded: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: embedded inputs (B, T, E), zc (B, Z+C) -> logits (B, T, V)."""
        t = embedded.shape[1]
        x = torch.cat([self.prefix(zc).unsqueeze(1), self.inp(embedded)], dim=1)
        x = x + self.pos(torch.arange(t + 1, device=x.device))
        for block in self.blocks:
            x = block(x, causal=True)
        return self.out(self.ln(x[:, 1:]))

    def blocks_list(self) -> list[Block]:
        return [typing.cast(Block, b) for b in self.blocks]

    def start(self, zc: torch.Tensor) -> Any:
        """Preallocate per-layer K/V buffers for max_positions + 1 positions and fill position 0
        with the (z, c) prefix. State: (buffers, next position)."""
        x = (self.prefix(zc) + self.pos.weight[0]).unsqueeze(1)
        bufs = []
        for block in self.blocks_list():
            d = x.shape[-1]
            shape = (x.shape[0], block.heads, self.max_positions + 1, d // block.heads)
            k_buf, v_buf = x.new_empty(shape), x.new_empty(shape)
            x = block.step(x, k_buf, v_buf, 0)
            bufs.append((k_buf, v_buf))
        return (bufs, 1)

    def step(self, embedded: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One token at the next position, attending to the cache: no re-run of the prefix."""
        bufs, pos = state
        if pos > self.max_positions:
            raise ValueError(f"sequence longer than the decoder's {self.max_positions} positions")
        x = (self.inp(embedded) + self.pos.weight[pos]).unsqueeze(1)
        for block, (k_buf, v_buf) in zip(self.blocks_list(), bufs):
            x = block.step(x, k_buf, v_buf, pos)
        return self.out(self.ln(x[:, 0])), (bufs, pos + 1)

    @staticmethod
    def reorder(state: Any, index: torch.Tensor) -> Any:
        bufs, pos = state
        return ([(k.index_select(0, index), v.index_select(0, index)) for k, v in bufs], pos)
