"""The LSTM cell of the step loop (recurrent.py): torch.nn.LSTM's equations and weight layout,
with its gate arithmetic written out once for the loop's autograd node (recurrence.py)."""

from __future__ import annotations

import torch

from seqcvae.models.recurrence import SIGMOID_BACKWARD, TANH_BACKWARD
from seqcvae.models.recurrent import RecurrentLayer, linear


def lstm_gates(gi: torch.Tensor, gh: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.nn.LSTM's cell after its matrix products: gi (B, 4H) = x W_ih^T + b_ih and
    gh (B, 4H) = h W_hh^T + b_hh, gates in the order i, f, g, o; c (B, H) -> (h', c') with
    c' = sigmoid(f) c + sigmoid(i) tanh(g) and h' = sigmoid(o) tanh(c'). Written out for autograd
    (a single step under autograd); the step loop uses LSTMLayer.saving_step."""
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

    @staticmethod
    def saving_step(
        gi: torch.Tensor, gh: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """lstm_gates without autograd, keeping the gate activations a = [i, f, g, o] (B, 4H) and
        tanh(c') for backward_step."""
        hidden = state.shape[1] // 2
        a = torch.add(gi, gh)
        a[:, : 2 * hidden].sigmoid_()
        a[:, 2 * hidden : 3 * hidden].tanh_()
        a[:, 3 * hidden :].sigmoid_()
        i, f, g, o = a.chunk(4, 1)
        nxt = torch.empty_like(state)
        c_next = torch.mul(f, state[:, hidden:], out=nxt[:, hidden:]).addcmul_(i, g)
        tc = c_next.tanh()
        torch.mul(o, tc, out=nxt[:, :hidden])
        return nxt, (a, tc)

    @staticmethod
    def backward_step(
        d_next: torch.Tensor,
        saved: tuple[torch.Tensor, ...],
        state: torch.Tensor,
        d_gi: torch.Tensor,
        d_gh: torch.Tensor,
        d_bias: torch.Tensor,
    ) -> torch.Tensor:
        """d [h', c'] -> the gates' gradients in d_gi and d_gh (the same, d_gh perhaps in the
        products' dtype) and d [h, c] except through gh."""
        a, tc = saved
        hidden = tc.shape[1]
        i, f, g, o = a.chunk(4, 1)
        d_h, d_c = d_next[:, :hidden], d_next[:, hidden:]
        d_i, d_f, d_g, d_o = d_gi.chunk(4, 1)
        SIGMOID_BACKWARD(torch.mul(d_h, tc, out=d_o), o, grad_input=d_o)
        d_c_all = d_h * o
        TANH_BACKWARD(d_c_all, tc, grad_input=d_c_all).add_(d_c)  # d c' from h' and the next step
        SIGMOID_BACKWARD(torch.mul(d_c_all, g, out=d_i), i, grad_input=d_i)
        SIGMOID_BACKWARD(torch.mul(d_c_all, state[:, hidden:], out=d_f), f, grad_input=d_f)
        TANH_BACKWARD(torch.mul(d_c_all, i, out=d_g), g, grad_input=d_g)
        d_gh.copy_(d_gi)  # d_gh may be in the products' dtype
        d_bias += d_gi.sum(0)
        d_state = torch.empty_like(state)
        d_state[:, :hidden].zero_()
        torch.mul(d_c_all, f, out=d_state[:, hidden:])
        return d_state

    def cell(self, gi: torch.Tensor, state: torch.Tensor, w_hh: torch.Tensor | None = None) -> torch.Tensor:
        h, c = state.split(self.hidden, dim=1)
        gh = linear(h, self.w_hh, self.matmul_dtype, w_hh)
        if torch.is_grad_enabled() and (gi.requires_grad or gh.requires_grad or state.requires_grad):
            h_next, c_next = lstm_gates(gi, gh, c)
            return torch.cat([h_next, c_next], dim=1)
        return self.saving_step(gi, gh, state)[0]
