"""Recurrent layers written as step loops over precomputed input projections, and their stack.

Why not torch.nn.GRU / nn.LSTM: on CPU their autograd graph slices the (B, T, G*H) input
projection at every step, and each slice's backward zero-fills a full-size buffer, so backward
costs O(T^2) memory traffic: 58% of a training step's time was `fill_` in a profile of the
default model (scripts/profile_train_step.py). Here the projections are `unbind`-ed once, whose
backward is one `stack`, and the constant part of the input (z, c) is projected once per
sequence, not per step. The cells' equations and weight layouts are torch's, so on CUDA the
teacher-forced passes run torch's fused kernels (cuDNN) with the same weights instead
(`fused_rnn`): there the step loop's small kernels per token are what costs, not the backward's
memory traffic. The cells themselves are in gru.py (GRULayer) and lstm.py (LSTMLayer); under
autograd the whole loop is one node with a hand-written backward (recurrence.py).
"""

from __future__ import annotations

import math
import typing

import torch
import torch.nn.functional as F
from torch import nn

from seqcvae.models.recurrence import Cell, promoted_sum, run_recurrence


def linear(
    x: torch.Tensor, layer: nn.Linear, dtype: torch.dtype | None, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """layer(x), with the matrix product in `dtype` (e.g. bfloat16) and the result in x's dtype.

    The bias add and everything around it stay in float32, so the recurrent state keeps full
    precision; only the products (forward and backward) run in the faster dtype.
    """
    if dtype is None or dtype == x.dtype:
        return layer(x) if weight is None else F.linear(x, weight, layer.bias)
    w = cast_weight(layer, dtype) if weight is None else weight
    return promoted_sum(F.linear(x.to(dtype), w), layer.bias)


def cast_weight(layer: nn.Linear, dtype: torch.dtype) -> torch.Tensor:
    """layer.weight in dtype. Without autograd (sampling) the cast is cached until the weight
    changes, instead of being redone at every decoding step (7% of a sampling batch's time)."""
    if torch.is_grad_enabled():
        return layer.weight.to(dtype)
    key = (dtype, layer.weight._version, layer.weight.data_ptr())
    cached = getattr(layer, "_seqcvae_cast", None)
    if cached is None or cached[0] != key:
        cached = (key, layer.weight.detach().to(dtype))
        object.__setattr__(layer, "_seqcvae_cast", cached)
    return cached[1]


def use_fused(x: torch.Tensor, fused: bool | None) -> bool:
    """The fused path: `fused` when set (tests compare the two paths on the CPU), else on CUDA."""
    return x.is_cuda if fused is None else fused


class RecurrentLayer(nn.Module):
    """One unidirectional recurrent layer over batch-first inputs; subclasses give the cell (`cell`)
    and, for the loop under autograd, a step that keeps what its derivative needs and that
    derivative (`saving_step`, `backward_step`: recurrence.Cell).

    Its state is one (B, state_size) tensor per sequence (the GRU's h; the LSTM's [h, c]), whose
    first `hidden` columns are the layer's output. Weights as torch's: w_ih (G*H, I) and w_hh
    (G*H, H) with the G gates stacked in torch's order.

    weight_drop: DropConnect on the recurrent weights in training (AWD-LSTM's weight drop, Merity
    et al. 2018): one mask over W_hh per forward pass, shared by every step and sequence, scaled
    by 1 / (1 - p) as dropout is; it regularises the recurrence itself, which dropout on the
    inputs and outputs leaves alone. Sampling and evaluation use the whole weight.
    """

    gates: typing.ClassVar[int]  # G
    mode: typing.ClassVar[str]  # torch's fused module of the same cell: "GRU" or "LSTM"
    states: typing.ClassVar[int] = 1  # state_size = states * hidden

    def __init__(self, input_size: int, hidden: int, weight_drop: float = 0.0):
        super().__init__()
        self.hidden = hidden
        self.weight_drop = weight_drop
        self.matmul_dtype: torch.dtype | None = None  # None: the parameters' dtype
        self.fused: bool | None = None  # None: torch's fused kernel on CUDA, the step loop elsewhere
        self.w_ih = nn.Linear(input_size, self.gates * hidden)
        self.w_hh = nn.Linear(hidden, self.gates * hidden)
        bound = 1.0 / math.sqrt(hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def state_size(self) -> int:
        return self.states * self.hidden

    def output(self, state: torch.Tensor) -> torch.Tensor:
        """The layer's output (..., H) from its state (..., state_size)."""
        return state if self.states == 1 else state[..., : self.hidden]

    def cell(self, gi: torch.Tensor, state: torch.Tensor, w_hh: torch.Tensor | None = None) -> torch.Tensor:
        """gi (B, G*H) input projection (bias included), state (B, state_size) -> next state.

        w_hh: the recurrent weight to use (weight drop's masked one in training), already in
        matmul_dtype (saves a cast per step); None: the layer's own.
        """
        raise NotImplementedError

    def dropped_recurrent_weight(self) -> torch.Tensor:
        """W_hh, with weight drop applied in training (a fresh mask at each call)."""
        if self.training and self.weight_drop > 0:
            return F.dropout(self.w_hh.weight, self.weight_drop, training=True)
        return self.w_hh.weight

    def forward(self, x: torch.Tensor, s0: torch.Tensor, static: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, I), s0 (B, state_size), static (B, G*H) added to every step's input projection.

        Returns the outputs of all steps (B, T, H).
        """
        if static is None and use_fused(x, self.fused):
            return fused_rnn([self], x, s0.unsqueeze(0))
        gi = linear(x, self.w_ih, self.matmul_dtype)
        if static is not None:
            gi = gi.add_(static.unsqueeze(1))  # gi is linear's own output: no copy needed
        w_hh = self.dropped_recurrent_weight()
        if torch.is_grad_enabled():  # the loop as one autograd node with a hand-written backward
            cell = typing.cast(type[Cell], type(self))  # GRULayer and LSTMLayer give its two steps
            return run_recurrence(cell, gi, s0, w_hh, self.w_hh.bias, self.matmul_dtype)
        if self.matmul_dtype is not None:  # the whole weight's cast is cached; a dropped one is new
            dropped = w_hh is not self.w_hh.weight
            w_hh = w_hh.to(self.matmul_dtype) if dropped else cast_weight(self.w_hh, self.matmul_dtype)
        s = s0
        outs = []
        for g in gi.unbind(1):
            s = self.cell(g, s, w_hh)
            outs.append(self.output(s))
        return torch.stack(outs, dim=1)


def fused_rnn(
    layers: typing.Sequence[RecurrentLayer],
    x: torch.Tensor,
    s0: torch.Tensor,
    dropout: float = 0.0,
    static_input: torch.Tensor | None = None,
    static_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The stacked layers (all of one cell) as one call of torch's fused GRU or LSTM (cuDNN on
    CUDA), with their weights: x (B, T, I), s0 (L, B, state_size) -> top-layer outputs (B, T, H).
    The first layer's constant input term, static_input (B, S) @ static_weight (G*H, S)^T, joins
    its input projection as extra input columns (the fused kernel has no per-sequence bias).
    `dropout` between layers, as the step loop's StackedRNN."""
    from torch.func import functional_call

    first = layers[0]
    w_ih0 = first.w_ih.weight
    if static_input is not None and static_weight is not None:
        w_ih0 = torch.cat([w_ih0, static_weight], dim=1)
        x = torch.cat([x, static_input.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
    params: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(layers):
        params[f"weight_ih_l{i}"] = w_ih0 if i == 0 else layer.w_ih.weight
        params[f"weight_hh_l{i}"] = layer.dropped_recurrent_weight()
        params[f"bias_ih_l{i}"] = layer.w_ih.bias
        params[f"bias_hh_l{i}"] = layer.w_hh.bias
    shell = _shell(first.mode, x.shape[-1], first.hidden, len(layers), dropout)
    shell.train(torch.is_grad_enabled() and dropout > 0)
    state: torch.Tensor | tuple[torch.Tensor, ...]
    if first.states == 1:
        state = s0.contiguous()
    else:  # nn.LSTM takes (h0, c0)
        state = tuple(part.contiguous() for part in s0.split(first.hidden, dim=-1))
    out, _ = functional_call(shell, params, (x, state))
    return out


_SHELLS: dict[tuple[str, int, int, int, float], nn.Module] = {}


def _shell(mode: str, input_size: int, hidden: int, layers: int, dropout: float) -> nn.Module:
    """An nn.GRU or nn.LSTM of this shape whose own parameters are never used (functional_call
    supplies the layers' weights); built once per shape, on the meta device so it holds no memory."""
    key = (mode, input_size, hidden, layers, dropout)  # on the meta device: one serves every device
    if key not in _SHELLS:
        kind = nn.GRU if mode == "GRU" else nn.LSTM
        with torch.device("meta"):
            _SHELLS[key] = kind(
                input_size, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
            )
    return _SHELLS[key]


def dropout_layer(p: float, locked: bool = False) -> nn.Module:
    """nn.Dropout(p), or LockedDropout(p) when `locked`; nn.Identity for p = 0 (which then draws
    no random numbers at all)."""
    if p <= 0:
        return nn.Identity()
    return LockedDropout(p) if locked else nn.Dropout(p)


class LockedDropout(nn.Module):
    """Dropout whose mask is drawn once per sequence and shared by all its steps (variational
    dropout, Gal & Ghahramani 2016; AWD-LSTM's locked dropout): in training x (B, T, D) ->
    x * m / (1 - p) with m (B, 1, D) ~ Bernoulli(1 - p), so a unit is either dropped for a whole
    sentence or kept for all of it; identity otherwise. Per-step inputs (B, D) get a mask per row."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        shape = (x.shape[0], 1, x.shape[-1]) if x.dim() == 3 else x.shape
        mask = x.new_empty(shape).bernoulli_(1 - self.p).div_(1 - self.p)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class StackedRNN(nn.Module):
    """Layers of one RecurrentLayer class (GRULayer or LSTMLayer) with dropout between them
    (LockedDropout when `locked_dropout`); `static` feeds only the first layer; weight_drop on
    every layer's recurrent weights."""

    def __init__(
        self,
        layer: type[RecurrentLayer],
        input_size: int,
        hidden: int,
        layers: int,
        dropout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            layer(input_size if i == 0 else hidden, hidden, weight_drop) for i in range(layers)
        )
        self.p_dropout = dropout if layers > 1 else 0.0
        self.locked_dropout = locked_dropout
        self.dropout = dropout_layer(self.p_dropout, locked_dropout)
        self.fused: bool | None = None  # None: torch's fused kernel on CUDA, the step loop elsewhere

    def _layers(self) -> list[RecurrentLayer]:
        return [typing.cast(RecurrentLayer, m) for m in self.layers]

    @property
    def state_size(self) -> int:
        """Each layer's state width (all layers have one cell and one width)."""
        return self._layers()[0].state_size

    def output(self, state: torch.Tensor) -> torch.Tensor:
        """The top layer's output (B, H) from the stack's state (L, B, state_size)."""
        return self._layers()[-1].output(state[-1])

    def forward(
        self,
        x: torch.Tensor,
        s0: torch.Tensor,
        static: torch.Tensor | None = None,
        static_input: torch.Tensor | None = None,
        static_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, T, I), s0 (L, B, state_size) -> top-layer outputs (B, T, H). The first layer's
        constant input term is `static` (B, G*H), or static_input @ static_weight^T, which the
        fused path needs unmultiplied."""
        if use_fused(x, self.fused) and (static is None or static_input is not None):
            layers = self._layers()
            p = self.p_dropout if self.training else 0.0
            if not (self.locked_dropout and p > 0):
                return fused_rnn(layers, x, s0, p, static_input, static_weight)
            # the fused kernel's dropout between layers is per element: call it layer by layer
            x = fused_rnn(layers[:1], x, s0[:1], 0.0, static_input, static_weight)
            for i, upper in enumerate(layers[1:], 1):
                x = fused_rnn([upper], self.dropout(x), s0[i : i + 1])
            return x
        if static is None and static_input is not None and static_weight is not None:
            static = F.linear(static_input, static_weight)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            x = layer(x, s0[i], static if i == 0 else None)
        return x

    def step(self, x: torch.Tensor, s: torch.Tensor, static: torch.Tensor | None = None) -> torch.Tensor:
        """One step for every layer: x (B, I), s (L, B, state_size) -> new s (L, B, state_size)."""
        new = []
        inp = x
        for i, layer in enumerate(self._layers()):
            gi = linear(inp, layer.w_ih, layer.matmul_dtype)
            if i == 0 and static is not None:
                gi = gi + static
            state = layer.cell(gi, s[i])
            inp = layer.output(state)
            new.append(state)
        return torch.stack(new)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first lengths[b] steps, leaving padding in place. x (B, T, D).

    The permutation is its own inverse.
    """
    b, t = x.shape[:2]
    steps = torch.arange(t, device=x.device).unsqueeze(0).expand(b, t)
    lens = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(steps < lens, lens - 1 - steps, steps)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


def last_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, T, H) -> x[b, lengths[b] - 1] (B, H)."""
    idx = (lengths.to(x.device) - 1).view(-1, 1, 1).expand(-1, 1, x.shape[2])
    return x.gather(1, idx).squeeze(1)
