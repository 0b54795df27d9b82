"""A recurrent layer's whole step loop as one autograd node, with a hand-written backward.

Under plain autograd the step loop (recurrent.py) records ~15 nodes a step, and its backward
computes the recurrent weight's gradient one step at a time: T small products (G*H x B) @ (B x H)
and T additions into a (G*H, H) buffer, 8% of a PTB LSTM step's time in the additions alone
(`scripts/bench_train_step.py --profile`). Here the forward runs the loop without autograd,
keeping each step's gate activations; the backward walks the steps in reverse with the cell's
own derivative (the cell class's `saving_step` / `backward_step`), and forms the recurrent
weight's gradient as a single product over all B*T rows at the end. The input projection's
gradient (B, T, G*H) goes back to autograd for the products before the loop.

Outputs are the plain loop's bit for bit, gradients up to float rounding (tests/test_recurrence.py
compares them with the loop under autograd and runs a float64 gradcheck; tests/test_gru.py with
torch.nn.GRU / nn.LSTM). With `dtype` (bfloat16) the products, forward and backward, run in that
dtype as `recurrent.linear`'s do, and everything else in float32.
"""

from __future__ import annotations

import typing

import torch
from torch.autograd.function import once_differentiable


class Cell(typing.Protocol):
    """What the loop needs of a cell class (GRULayer, LSTMLayer)."""

    gates: typing.ClassVar[int]
    states: typing.ClassVar[int]

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
        d_bias: torch.Tensor,
    ) -> torch.Tensor:
        """d loss / d next state (B, S), this step's saved tensors and its input state -> fills
        d_gi (B, G*H) and d_gh (B, G*H, in the products' dtype), adds d_gh's column sums (in
        float32) to d_bias (G*H,) and returns d loss / d state (B, S) except the path through
        gh, which the loop adds."""
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


# The gates' derivatives in their out= forms, which write into slices of the gradient buffers;
# looked up once (each call goes through Python, and at small widths Python calls rather than
# kernels set a cell's cost). Used by the cells' backward steps (gru.py, lstm.py).
TANH_BACKWARD = torch.ops.aten.tanh_backward.grad_input
SIGMOID_BACKWARD = torch.ops.aten.sigmoid_backward.grad_input


def promoted_sum(product: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """product (bfloat16) + bias (float32) in float32: the product converted, then the bias added
    in place. The same numbers as torch.add(product, bias), whose mixed-dtype kernel is 2-5x
    slower on the CPU (1.2 ms against 0.2 ms at 128 x 2,560)."""
    return product.to(bias.dtype).add_(bias)


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
        cast = dtype is not None and dtype != gi.dtype
        w = w_hh.to(dtype) if cast else w_hh
        states, saved, inputs = [s0], [], []  # inputs: each step's h as the product took it
        s = s0
        for g in gi.unbind(1):
            h = s[:, :hidden].to(dtype) if cast else s[:, :hidden]
            gh = promoted_sum(torch.mm(h, w.t()), b_hh) if cast else torch.addmm(b_hh, h, w.t())
            s, kept = cell.saving_step(g, gh, s)
            states.append(s)
            saved.append(kept)
            inputs.append(h)
        ctx.cell, ctx.hidden = cell, hidden
        # intermediates made without autograd: kept on ctx (they reference no graph)
        ctx.states, ctx.saved, ctx.inputs = states, saved, inputs
        ctx.save_for_backward(w)
        return torch.stack([st[:, :hidden] for st in states[1:]], dim=1)

    @staticmethod
    @once_differentiable
    def backward(ctx: typing.Any, d_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Per step, the gates' gradients go into a small reused buffer (cache-resident at any
        batch), then once into d gi (B, T, G*H); d gh goes, in the products' dtype, into a
        time-major buffer whose step t feeds d h_{t-1} = d gh_t @ W_hh and, at the end, all of
        which feeds d W_hh = d gh^T @ h in one product. The bias's gradient is summed step by
        step in float32."""
        cell: type[Cell] = ctx.cell
        hidden: int = ctx.hidden
        states: list[torch.Tensor] = ctx.states
        saved: list[tuple[torch.Tensor, ...]] = ctx.saved
        inputs: list[torch.Tensor] = ctx.inputs
        (w,) = ctx.saved_tensors
        b, t_len, _ = d_out.shape
        width = w.shape[0]
        d_gi = d_out.new_empty(b, t_len, width)
        d_gh = d_out.new_empty(t_len, b, width, dtype=w.dtype)
        gi_step = d_out.new_empty(b, width)
        d_bias = d_out.new_zeros(width)
        d_s = torch.zeros_like(states[0])
        for t in range(t_len - 1, -1, -1):
            d_s[:, :hidden] += d_out[:, t]
            d_prev = cell.backward_step(d_s, saved[t], states[t], gi_step, d_gh[t], d_bias)
            d_gi[:, t] = gi_step
            d_prev[:, :hidden] += torch.mm(d_gh[t], w)
            d_s = d_prev
        flat = d_gh.view(t_len * b, width)
        d_w = torch.mm(flat.t(), torch.stack(inputs).view(t_len * b, hidden)).to(d_out.dtype)
        return None, None, d_gi, d_s, d_w, d_bias
