"""A GRU written as a step loop over precomputed input projections.

Why not torch.nn.GRU: on CPU its autograd graph slices the (B, T, 3H) input projection at every
step, and each slice's backward zero-fills a full-size buffer, so backward costs O(T^2) memory
traffic: 58% of a training step's time was `fill_` in a profile of the default model
(scripts/profile_train_step.py). Here the projections are `unbind`-ed once, whose backward is one
`stack`, and the constant part of the input (z, c) is projected once per sequence, not per step.
The cell equations and weight layout are those of torch.nn.GRU, so on CUDA the teacher-forced
passes run torch's fused GRU (cuDNN) with the same weights instead (`fused_gru`): there the step
loop's ~10 small kernels per token are what costs, not the backward's memory traffic.
"""

from __future__ import annotations

import math
import typing

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def linear(
    x: torch.Tensor, layer: nn.Linear, dtype: torch.dtype | None, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """layer(x), with the matrix product in `dtype` (e.g. bfloat16) and the result in x's dtype.

    The bias add and everything around it stay in float32, so the recurrent state keeps full
    precision; only the products (forward and backward) run in the faster dtype. The bias add
    promotes the product to float32 (exactly, as .to would) in the same kernel.
    """
    if dtype is None or dtype == x.dtype:
        return layer(x) if weight is None else F.linear(x, weight, layer.bias)
    w = cast_weight(layer, dtype) if weight is None else weight
    return torch.add(F.linear(x.to(dtype), w), layer.bias)


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


def fused_gru(
    layers: typing.Sequence[GRULayer],
    x: torch.Tensor,
    h0: torch.Tensor,
    dropout: float = 0.0,
    static_input: torch.Tensor | None = None,
    static_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The stacked GRU of `layers` as one call of torch's fused GRU (cuDNN on CUDA), with their
    weights: x (B, T, I), h0 (L, B, H) -> top-layer states (B, T, H). The first layer's constant
    input term, static_input (B, S) @ static_weight (3H, S)^T, joins its input projection as extra
    input columns (the fused kernel has no per-sequence bias). `dropout` between layers, as the
    step loop's StackedGRU."""
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
    shell = _gru_shell(x.shape[-1], first.hidden, len(layers), dropout)
    shell.train(torch.is_grad_enabled() and dropout > 0)
    out, _ = functional_call(shell, params, (x, h0.contiguous()))
    return out


_SHELLS: dict[tuple[int, int, int, float], nn.GRU] = {}


def _gru_shell(input_size: int, hidden: int, layers: int, dropout: float) -> nn.GRU:
    """An nn.GRU of this shape whose own parameters are never used (functional_call supplies the
    layers' weights); built once per shape, on the meta device so it holds no memory."""
    key = (input_size, hidden, layers, dropout)  # on the meta device: one shell serves every device
    if key not in _SHELLS:
        with torch.device("meta"):
            gru = nn.GRU(input_size, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        _SHELLS[key] = gru
    return _SHELLS[key]


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


# The out= forms of the gates' derivatives, looked up once (each call goes through Python, and
# at the encoder's width, H = 128, Python calls rather than kernels set the cell's cost).
_TANH_BACKWARD = torch.ops.aten.tanh_backward.grad_input
_SIGMOID_BACKWARD = torch.ops.aten.sigmoid_backward.grad_input


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
        d_h = g * z
        d_gi = h_n.new_empty(h_n.shape[0], 3 * h_n.shape[1])
        d_r, d_z, d_an = d_gi.chunk(3, 1)  # d_an: of a_n = i_n + r h_n
        _TANH_BACKWARD(torch.sub(g, d_h, out=d_an), n, grad_input=d_an)  # d n = d h' (1 - z)
        _SIGMOID_BACKWARD(torch.mul(d_an, h_n, out=d_r), r, grad_input=d_r)
        _SIGMOID_BACKWARD(torch.sub(h, n, out=d_z).mul_(g), z, grad_input=d_z)
        d_gh = d_gi.clone()
        d_gh[:, 2 * h_n.shape[1] :].mul_(r)
        return d_gi, d_gh, d_h


def dropout_layer(p: float) -> nn.Module:
    """nn.Dropout(p), or nn.Identity for p = 0 (which then draws no random numbers at all)."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


class GRULayer(nn.Module):
    """One unidirectional GRU layer over batch-first inputs.

    weight_drop: DropConnect on the recurrent weights in training (AWD-LSTM's weight drop, Merity
    et al. 2018): one mask over W_hh per forward pass, shared by every step and sequence, scaled
    by 1 / (1 - p) as dropout is; it regularises the recurrence itself, which dropout on the
    inputs and outputs leaves alone. Sampling and evaluation use the whole weight.
    """

    def __init__(self, input_size: int, hidden: int, weight_drop: float = 0.0):
        super().__init__()
        self.hidden = hidden
        self.weight_drop = weight_drop
        self.matmul_dtype: torch.dtype | None = None  # None: the parameters' dtype
        self.fused: bool | None = None  # None: torch's fused GRU on CUDA, the step loop elsewhere
        self.w_ih = nn.Linear(input_size, 3 * hidden)
        self.w_hh = nn.Linear(hidden, 3 * hidden)
        bound = 1.0 / math.sqrt(hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def cell(self, gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor | None = None) -> torch.Tensor:
        """gi (B, 3H) input projection (bias included), h (B, H) -> next h (B, H).

        w_hh: the recurrent weight to use (weight drop's masked one in training), already in
        matmul_dtype (saves a cast per step); None: the layer's own.
        """
        return gru_gates(gi, linear(h, self.w_hh, self.matmul_dtype, w_hh), h)

    def dropped_recurrent_weight(self) -> torch.Tensor:
        """W_hh, with weight drop applied in training (a fresh mask at each call)."""
        if self.training and self.weight_drop > 0:
            return F.dropout(self.w_hh.weight, self.weight_drop, training=True)
        return self.w_hh.weight

    def forward(self, x: torch.Tensor, h0: torch.Tensor, static: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, I), h0 (B, H), static (B, 3H) added to every step's input projection.

        Returns all hidden states (B, T, H).
        """
        if static is None and use_fused(x, self.fused):
            return fused_gru([self], x, h0.unsqueeze(0))
        gi = linear(x, self.w_ih, self.matmul_dtype)
        if static is not None:
            gi = gi.add_(static.unsqueeze(1))  # gi is linear's own output: no copy needed
        w_hh = self.dropped_recurrent_weight()
        if self.matmul_dtype is not None:  # the whole weight's cast is cached; a dropped one is new
            dropped = w_hh is not self.w_hh.weight
            w_hh = w_hh.to(self.matmul_dtype) if dropped else cast_weight(self.w_hh, self.matmul_dtype)
        h = h0
        outs = []
        for g in gi.unbind(1):
            h = self.cell(g, h, w_hh)
            outs.append(h)
        return torch.stack(outs, dim=1)


class StackedGRU(nn.Module):
    """Layers of GRULayer with dropout between them; `static` feeds only the first layer;
    weight_drop on every layer's recurrent weights (GRULayer)."""

    def __init__(
        self, input_size: int, hidden: int, layers: int, dropout: float = 0.0, weight_drop: float = 0.0
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            GRULayer(input_size if i == 0 else hidden, hidden, weight_drop) for i in range(layers)
        )
        self.p_dropout = dropout if layers > 1 else 0.0
        self.dropout = dropout_layer(self.p_dropout)
        self.fused: bool | None = None  # None: torch's fused GRU on CUDA, the step loop elsewhere

    def forward(
        self,
        x: torch.Tensor,
        h0: torch.Tensor,
        static: torch.Tensor | None = None,
        static_input: torch.Tensor | None = None,
        static_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, T, I), h0 (L, B, H) -> top-layer states (B, T, H). The first layer's constant
        input term is `static` (B, 3H), or static_input @ static_weight^T, which the fused path
        needs unmultiplied."""
        if use_fused(x, self.fused) and (static is None or static_input is not None):
            layers = [typing.cast(GRULayer, m) for m in self.layers]
            return fused_gru(
                layers, x, h0, self.p_dropout if self.training else 0.0, static_input, static_weight
            )
        if static is None and static_input is not None and static_weight is not None:
            static = F.linear(static_input, static_weight)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            x = layer(x, h0[i], static if i == 0 else None)
        return x

    def step(self, x: torch.Tensor, h: torch.Tensor, static: torch.Tensor | None = None) -> torch.Tensor:
        """One step for every layer: x (B, I), h (L, B, H) -> new h (L, B, H)."""
        new = []
        inp = x
        for i, module in enumerate(self.layers):
            layer = typing.cast(GRULayer, module)
            gi = linear(inp, layer.w_ih, layer.matmul_dtype)
            if i == 0 and static is not None:
                gi = gi + static
            inp = layer.cell(gi, h[i])
            new.append(inp)
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
