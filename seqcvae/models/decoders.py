"""Autoregressive decoders p(x_t | x_<t, z, c) with a one-token step API for sampling."""

from __future__ import annotations

import torch
from torch import nn


class GRUDecoder(nn.Module):
    """GRU whose initial state comes from (z, c) and whose every input is [emb(x_t); z; c]."""

    def __init__(self, embedding_dim: int, hidden: int, layers: int, latent_dim: int,
                 condition_dim: int, vocab_size: int, dropout: float = 0.0):
        super().__init__()
        self.layers = layers
        self.hidden = hidden
        self.init = nn.Linear(latent_dim + condition_dim, layers * hidden)
        self.rnn = nn.GRU(embedding_dim + latent_dim + condition_dim, hidden, num_layers=layers,
                          batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, vocab_size)

    def init_state(self, zc: torch.Tensor) -> torch.Tensor:
        """zc (B, Z+C) -> hidden state (layers, B, H)."""
        h = torch.tanh(self.init(zc))
        return h.view(zc.shape[0], self.layers, self.hidden).transpose(0, 1).contiguous()

    def forward(self, embedded: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: embedded inputs (B, T, E), zc (B, Z+C) -> (B, T, V)."""
        inputs = torch.cat([embedded, zc.unsqueeze(1).expand(-1, embedded.shape[1], -1)], dim=-1)
        out, _ = self.rnn(inputs, self.init_state(zc))
        return self.out(out)

    def step(self, embedded: torch.Tensor, zc: torch.Tensor, state: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One token: embedded (B, E), zc (B, Z+C), state (layers, B, H) -> logits (B, V), state."""
        out, state = self.rnn(torch.cat([embedded, zc], dim=-1).unsqueeze(1), state)
        return self.out(out[:, 0]), state
