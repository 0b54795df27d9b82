"""Sequence encoders q(z | x, c)."""

from __future__ import annotations

import torch
from torch import nn

from seqcvae.models.gru import GRULayer
from seqcvae.models.recurrent import dropout_layer, last_valid, reverse_padded


class GRUEncoder(nn.Module):
    """Bidirectional GRU over token embeddings; final states of both directions and c -> mu, logvar.

    Dropout here sits between layers; the CVAE also applies it to the token embeddings."""

    def __init__(
        self,
        *,
        embedding_dim: int,
        hidden: int,
        layers: int,
        condition_dim: int,
        latent_dim: int,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.hidden = hidden
        self.forward_layers = nn.ModuleList(
            GRULayer(embedding_dim if i == 0 else 2 * hidden, hidden) for i in range(layers)
        )
        self.backward_layers = nn.ModuleList(
            GRULayer(embedding_dim if i == 0 else 2 * hidden, hidden) for i in range(layers)
        )
        self.dropout = dropout_layer(dropout if layers > 1 else 0.0)  # between layers
        self.head = nn.Linear(2 * hidden + condition_dim, 2 * latent_dim)

    def forward(
        self, embedded: torch.Tensor, lengths: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """embedded (B, T, E) without <bos>, padded after lengths[b]; c (B, C) -> mu, logvar (B, Z)."""
        h0 = embedded.new_zeros(embedded.shape[0], self.hidden)
        x = embedded
        for i, (fwd, bwd) in enumerate(zip(self.forward_layers, self.backward_layers)):
            if i > 0:
                x = self.dropout(x)
            out_f = fwd(x, h0)
            out_b = reverse_padded(bwd(reverse_padded(x, lengths), h0), lengths)
            x = torch.cat([out_f, out_b], dim=-1)
        # Forward direction ends at the last real token; backward direction ends at position 0.
        h = torch.cat([last_valid(x[..., : self.hidden], lengths), x[:, 0, self.hidden :]], dim=-1)
        mu, logvar = self.head(torch.cat([h, c], dim=-1)).chunk(2, dim=-1)
        return mu, logvar
