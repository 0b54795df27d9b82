"""Autoregressive decoders p(x_t | x_<t, z, c).

Every decoder offers teacher-forced `forward(embedded, zc)` and an incremental protocol used by
sampling and beam search: `state = start(zc)`, then `logits, state = step(embedded_token, state)`
(one token costs one step), and `reorder(state, index)` to follow beams. `features` gives the
teacher-forced states that the output layer `out` (models/output.py) turns into logits or a loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from seqcvae.models.gru import GRULayer
from seqcvae.models.lstm import LSTMLayer
from seqcvae.models.output import output_layer
from seqcvae.models.recurrent import RecurrentLayer, StackedRNN, dropout_layer

CELLS: dict[str, type[RecurrentLayer]] = {"gru": GRULayer, "lstm": LSTMLayer}


class RNNDecoder(nn.Module):
    """GRU or LSTM (`cell`) whose initial state comes from (z, c) and whose every input is
    [emb(x_t); z; c].

    The (z, c) part of the input projection is the same at every step, so it is computed once
    per sequence (`static`) rather than concatenated to each input.
    """

    def __init__(
        self,
        *,
        embedding_dim: int,
        hidden: int,
        layers: int,
        latent_dim: int,
        condition_dim: int,
        vocab_size: int,
        cell: str = "gru",
        dropout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        output_cutoffs: Sequence[int] = (),
        tied_embedding: nn.Embedding | None = None,
    ):
        super().__init__()
        layer = CELLS[cell]
        self.layers = layers
        # built in this order so that a seed gives the GRU decoder the weights it always had
        self.init = nn.Linear(latent_dim + condition_dim, layers * layer.states * hidden)
        self.static = nn.Linear(latent_dim + condition_dim, layer.gates * hidden, bias=False)
        self.rnn = StackedRNN(layer, embedding_dim, hidden, layers, dropout, weight_drop, locked_dropout)
        # on the top layer's outputs (not the recurrence)
        self.output_dropout = dropout_layer(dropout, locked_dropout)
        self.out = output_layer(hidden, vocab_size, output_cutoffs, tied_embedding)

    def init_state(self, zc: torch.Tensor) -> torch.Tensor:
        """zc (B, Z+C) -> recurrent state (layers, B, state_size)."""
        s = torch.tanh(self.init(zc))
        return s.view(zc.shape[0], self.layers, self.rnn.state_size).transpose(0, 1).contiguous()

    def features(self, embedded: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """Teacher-forced states for `out`: embedded inputs (B, T, E), zc (B, Z+C) -> (B, T, H)."""
        out = self.rnn(embedded, self.init_state(zc), static_input=zc, static_weight=self.static.weight)
        return self.output_dropout(out)

    def forward(self, embedded: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: embedded inputs (B, T, E), zc (B, Z+C) -> (B, T, V)."""
        return self.out.logits(self.features(embedded, zc))

    def start(self, zc: torch.Tensor) -> Any:
        return (self.init_state(zc), self.static(zc))

    def step(self, embedded: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One token: embedded (B, E), state from start/step -> logits (B, V), new state."""
        s, static = state
        s = self.rnn.step(embedded, s, static)
        return self.out.logits(self.output_dropout(self.rnn.output(s))), (s, static)

    @staticmethod
    def reorder(state: Any, index: torch.Tensor) -> Any:
        s, static = state
        return (s.index_select(1, index), static.index_select(0, index))
