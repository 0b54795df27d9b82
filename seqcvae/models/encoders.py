"""Sequence encoders q(z | x, c)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class GRUEncoder(nn.Module):
    """Bidirectional GRU over token embeddings; final states of both directions and c -> mu, logvar."""

    def __init__(self, embedding_dim: int, hidden: int, layers: int, condition_dim: int,
                 latent_dim: int, dropout: float = 0.0):
        super().__init__()
        self.rnn = nn.GRU(embedding_dim, hidden, num_layers=layers, batch_first=True,
                          bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden + condition_dim, 2 * latent_dim)

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor, c: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """embedded (B, T, E) without <bos>; lengths (B,); c (B, C) -> mu, logvar (B, Z)."""
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)  # (layers*2, B, H)
        h = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        mu, logvar = self.head(torch.cat([h, c], dim=-1)).chunk(2, dim=-1)
        return mu, logvar
