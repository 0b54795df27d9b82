"""The LSTM cell of the step loop (recurrent.py): torch.nn.LSTM's equations and weight layout."""

from __future__ import annotations

import torch

from seqcvae.models.recurrent import RecurrentLayer, linear


def lstm_gates(gi: torch.Tensor, gh: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.nn.LSTM's cell after its matrix products: gi (B, 4H) = x W_ih^T + b_ih and
    gh (B, 4H) = h W_hh^T + b_hh, gates in the order i, f, g, o; c (B, H) -> (h', c') with
    c' = sigmoid(f) c + sigmoid(i) tanh(g) and h' = sigmoid(o) tanh(c')."""
    i, f, g, o = (gi + gh).chunk(4, 1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


class LSTMLayer(RecurrentLayer):
    """One unidirectional LSTM layer; state [h, c] (B, 2H), output h.

    The forget gate's input bias starts at 1 (torch's uniform initialisation otherwise), so the
    cell remembers by default early in training (Jozefowicz et al. 2015)."""

    gates = 4
    mode = "LSTM"
    states = 2

    def __init__(self, input_size: int, hidden: int, weight_drop: float = 0.0):
        super().__init__(input_size, hidden, weight_drop)
        with torch.no_grad():
            self.w_ih.bias[hidden : 2 * hidden].fill_(1.0)

    def cell(self, gi: torch.Tensor, state: torch.Tensor, w_hh: torch.Tensor | None = None) -> torch.Tensor:
        h, c = state.split(self.hidden, dim=1)
        h_next, c_next = lstm_gates(gi, linear(h, self.w_hh, self.matmul_dtype, w_hh), c)
        return torch.cat([h_next, c_next], dim=1)
