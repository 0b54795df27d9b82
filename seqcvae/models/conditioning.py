"""Condition embedding: continuous values with presence flags plus categorical tags -> c (B, C)."""

from __future__ import annotations

import torch
from torch import nn


class ConditionEmbedder(nn.Module):
    """Map (values (B,P), present (B,P), tags (B,T)) to a condition vector c (B, out_dim).

    Absent continuous values are zeroed and flagged, so "unspecified" is a distinct input; tag index
    0 means "any tag". With no conditions at all, c is a learned constant.
    """

    def __init__(self, num_continuous: int, tag_sizes: list[int], out_dim: int):
        super().__init__()
        self.num_continuous = num_continuous
        self.tag_embeddings = nn.ModuleList(nn.Embedding(n, out_dim) for n in tag_sizes)
        self.continuous = nn.Linear(2 * num_continuous, out_dim) if num_continuous else None
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, values: torch.Tensor, present: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        h = self.bias.expand(values.shape[0], -1)
        if self.continuous is not None:
            h = h + self.continuous(torch.cat([values * present, present], dim=-1))
        for j, emb in enumerate(self.tag_embeddings):
            h = h + emb(tags[:, j])
        return self.mlp(h)
