"""The GRU cell of the step loop (recurrent.py): torch.nn.GRU's equations and weight layout, with
the gate arithmetic after the matrix products in one autograd node (gru_gates)."""

from __future__ import annotations

import typing

import torch
from torch.autograd.function import once_differentiable

from seqcvae.models.recurrence import SIGMOID_BACKWARD, TANH_BACKWARD
from seqcvae.models.recurrent import RecurrentLayer, linear


def gru_gates(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """torch.nn.GRU's cell after its matrix products: gi (B, 3H) = x W_ih^T + b_ih and
    gh (B, 3H) = h W_hh^T + b_hh, gates in the order r, z, n; h (B, H) -> h' (B, H) =
    n + z (h - n), with r = sigmoid(i_r + h_r), z = sigmoid(i_z + h_z), n = tanh(i_n + r h_n).

    The same numbers, bit for bit, as those lines written out (tests/test_gru.py), with 6 of their
    10 kernels in place and, under autograd, one node (_GRUGates) instead of ~11, whose
    hand-written backward fills d gi and d gh directly (the written-out lines' backward also
    concatenates the per-gate gradients twice). Without autograd (sampling) nothing is saved.
    Measured in BENCHMARKS.md (issue 15, the GRU cell's gate arithmetic): the decoder's cell
    (B x H = 128 x 512) 1.25x, a training step ~1.05x; small cells gain nothing (Python overhead).
    """
    if torch.is_grad_enabled() and (gi.requires_grad or gh.requires_grad or h.requires_grad):
        return typing.cast(torch.Tensor, _GRUGates.apply(gi, gh, h))
    return _gates_forward(gi, gh, h)[0]


def _gates_forward(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """-> h', r, z, n, h_n. Each element's operations are those of the written-out formula in the
    same order (a + b = b + a and a * b = b * a exactly), and sigmoid and tanh run on contiguous
    (B, H) tensors as there: their vectorised and scalar (tail) kernels may round differently, so
    which elements fall in the tail must not change either."""
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = (i_r + h_r).sigmoid_()
    z = (i_z + h_z).sigmoid_()
    n = (r * h_n).add_(i_n).tanh_()
    return (h - n).mul_(z).add_(n), r, z, n, h_n


class _GRUGates(torch.autograd.Function):
    """gru_gates under autograd: saves h_n, h, r, z and n; the backward writes the gates'
    gradients into one (B, 3H) buffer, d gi, and d gh is its copy with the n third times r."""

    @staticmethod
    def forward(ctx: typing.Any, gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        out, r, z, n, h_n = _gates_forward(gi, gh, h)
        ctx.save_for_backward(h_n, h, r, z, n)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: typing.Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h_n, h, r, z, n = ctx.saved_tensors
        d_gi = h_n.new_empty(h_n.shape[0], 3 * h_n.shape[1])
        d_gh = torch.empty_like(d_gi)
        d_h = _gates_backward(g, h, (r, z, n, h_n), d_gi, d_gh)
        return d_gi, d_gh, d_h


def _gates_backward(
    g: torch.Tensor,
    h: torch.Tensor,
    saved: tuple[torch.Tensor, ...],
    d_gi: torch.Tensor,
    d_gh: torch.Tensor,
    d_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """d h' = g -> fills d gi and d gh (B, 3H), which may be views into larger buffers and d gh
    may be in a lower precision (the products' dtype), adds d gh's column sums to d_bias (3H,)
    when given, and returns d h through the gates' arithmetic alone (not through gh). d gh is
    d gi with the n third times r."""
    r, z, n, h_n = saved
    hidden = h_n.shape[1]
    d_h = g * z
    d_r, d_z, d_an = d_gi.chunk(3, 1)  # d_an: of a_n = i_n + r h_n
    TANH_BACKWARD(torch.sub(g, d_h, out=d_an), n, grad_input=d_an)  # d n = d h' (1 - z)
    SIGMOID_BACKWARD(torch.mul(d_an, h_n, out=d_r), r, grad_input=d_r)
    SIGMOID_BACKWARD(torch.sub(h, n, out=d_z).mul_(g), z, grad_input=d_z)
    d_gh[:, : 2 * hidden] = d_gi[:, : 2 * hidden]
    d_hn = d_an * r
    d_gh[:, 2 * hidden :] = d_hn
    if d_bias is not None:
        d_bias[: 2 * hidden] += d_gi[:, : 2 * hidden].sum(0)
        d_bias[2 * hidden :] += d_hn.sum(0)
    return d_h


class GRULayer(RecurrentLayer):
    """One unidirectional GRU layer (gates r, z, n as torch.nn.GRU); state h (B, H)."""

    gates = 3
    mode = "GRU"

    @staticmethod
    def saving_step(
        gi: torch.Tensor, gh: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        out, r, z, n, h_n = _gates_forward(gi, gh, state)
        return out, (r, z, n, h_n)

    @staticmethod
    def backward_step(
        d_next: torch.Tensor,
        saved: tuple[torch.Tensor, ...],
        state: torch.Tensor,
        d_gi: torch.Tensor,
        d_gh: torch.Tensor,
        d_bias: torch.Tensor,
    ) -> torch.Tensor:
        return _gates_backward(d_next, state, saved, d_gi, d_gh, d_bias)

    def cell(self, gi: torch.Tensor, state: torch.Tensor, w_hh: torch.Tensor | None = None) -> torch.Tensor:
        return gru_gates(gi, linear(state, self.w_hh, self.matmul_dtype, w_hh), state)
