"""A recurrent layer's whole step loop as one autograd node, with a hand-written backward.

Under plain autograd the step loop (recurrent.py) records ~15 nodes a step, and its backward
computes the recurrent weight's gradient one step at a time: T small products (G*H x B) @ (B x H)
and T additions into a (G*H, H) buffer, 8% of a PTB LSTM step's time in the additions alone
(scripts/profile_train_step.py). Here the forward runs the loop without autograd, keeping each
step's gate activations; the backward walks the steps in reverse with the cell's own derivative
(the cell class's `saving_step` / `backward_step`), writes every step's gate gradients into one
(B, T, G*H) buffer, and then forms the recurrent weight's gradient as a single product over all
B*T rows and its bias's as one sum. The input projection's gradient is that same buffer (the
GRU's differs in the n third), returned to autograd for the products before the loop.

The numbers are the step loop's up to float rounding (tests/test_recurrence.py compares outputs
and every gradient with the loop under autograd and with torch.nn.GRU / nn.LSTM). With
`dtype` (bfloat16) the products, forward and backward, run in that dtype as `linear` does, and
everything else in float32.
"""

from __future__ import annotations

import typing

import torch
from torch.autograd.function import once_differentiable


class Cell(typing.Protocol):
    """What the loop needs of a cell class (GRULayer, LSTMLayer)."""

    gates: typing.ClassVar[int]
    states: typing.ClassVar[int]
    gate_grads_shared: typing.ClassVar[bool]  # d gh == d gi (the LSTM), so one buffer serves both

    @staticmethod
    def saving_step(
        gi: torch.Tensor, gh: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """(B, G*H) input and recurrent projections (biases included), state (B, S) -> the next
        state and what backward_step needs of this step."""
        ...

    @staticmethod
    def backward_step(
        d_next: torch.Tensor,
        saved: tuple[torch.Tensor, ...],
        state: torch.Tensor,
        d_gi: torch.Tensor,
        d_gh: torch.Tensor,
    ) -> torch.Tensor:
        """d loss / d next state (B, S), this step's saved tensors and its input state -> fills
        d_gi and d_gh (B, G*H) and returns d loss / d state (B, S) except the path through gh,
        which the loop adds."""
        ...


def run_recurrence(
    cell: type[Cell],
    gi: torch.Tensor,
    s0: torch.Tensor,
    w_hh: torch.Tensor,
    b_hh: torch.Tensor,
    dtype: torch.dtype | None,
) -> torch.Tensor:
    """The layer's outputs (B, T, H) for input projections gi (B, T, G*H) and first state s0
    (B, S), with recurrent weight w_hh (G*H, H) and bias b_hh (G*H,), as one autograd node."""
    return typing.cast(torch.Tensor, _Recurrence.apply(cell, dtype, gi, s0, w_hh, b_hh))


def _product(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """h @ w^T + b, the product in dtype (w already cast) and the sum in b's dtype, as `linear`."""
    if dtype is None or dtype == h.dtype:
        return torch.addmm(b, h, w.t())
    return torch.add(torch.mm(h.to(dtype), w.t()), b)


class _Recurrence(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: typing.Any,
        cell: type[Cell],
        dtype: torch.dtype | None,
        gi: torch.Tensor,
        s0: torch.Tensor,
        w_hh: torch.Tensor,
        b_hh: torch.Tensor,
    ) -> torch.Tensor:
        hidden = w_hh.shape[1]
        w = w_hh if dtype is None else w_hh.to(dtype)
        states, saved = [s0], []
        s = s0
        for g in gi.unbind(1):
            s, kept = cell.saving_step(g, _product(s[:, :hidden], w, b_hh, dtype), s)
            states.append(s)
            saved.append(kept)
        ctx.cell, ctx.dtype, ctx.hidden = cell, dtype, hidden
        # intermediates made without autograd: kept on ctx (they reference no graph)
        ctx.states, ctx.saved = states, saved
        ctx.save_for_backward(w)
        return torch.stack([st[:, :hidden] for st in states[1:]], dim=1)

    @staticmethod
    @once_differentiable
    def backward(ctx: typing.Any, d_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        cell: type[Cell] = ctx.cell
        dtype: torch.dtype | None = ctx.dtype
        hidden: int = ctx.hidden
        states: list[torch.Tensor] = ctx.states
        saved: list[tuple[torch.Tensor, ...]] = ctx.saved
        (w,) = ctx.saved_tensors
        b, t_len, _ = d_out.shape
        width = w.shape[0]
        d_gi = d_out.new_empty(b, t_len, width)
        d_gh = d_gi if cell.gate_grads_shared else d_out.new_empty(b, t_len, width)
        d_s = torch.zeros_like(states[0])
        for t in range(t_len - 1, -1, -1):
            d_s[:, :hidden] += d_out[:, t]
            d_prev = cell.backward_step(d_s, saved[t], states[t], d_gi[:, t], d_gh[:, t])
            step_grad = d_gh[:, t] if dtype is None else d_gh[:, t].to(dtype)
            d_prev[:, :hidden] += torch.mm(step_grad, w)
            d_s = d_prev
        h_prev = torch.stack([st[:, :hidden] for st in states[:-1]], dim=1).reshape(b * t_len, hidden)
        flat = d_gh.reshape(b * t_len, width)
        if dtype is None:
            d_w = torch.mm(flat.t(), h_prev)
        else:
            d_w = torch.mm(flat.t().to(dtype), h_prev.to(dtype)).to(d_out.dtype)
        return None, None, d_gi, d_s, d_w, flat.sum(0)
