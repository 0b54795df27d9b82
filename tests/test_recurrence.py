"""The step loop as one autograd node (models/recurrence.py): its outputs and every gradient against
the same loop under plain autograd (one cell call per step), a float64 gradcheck, bf16 products,
weight drop, and evaluation's loop giving training's outputs."""

import pytest
import torch

from seqcvae.models.decoders import CELLS
from seqcvae.models.recurrence import run_recurrence
from seqcvae.models.recurrent import RecurrentLayer, linear


def _plain_autograd_layer(
    layer: RecurrentLayer, x: torch.Tensor, s0: torch.Tensor, static: torch.Tensor | None
) -> torch.Tensor:
    """RecurrentLayer.forward as it was before the node: `cell` per step, autograd recording
    every operation (the GRU's gate node and the LSTM's written-out gates)."""
    gi = linear(x, layer.w_ih, layer.matmul_dtype)
    if static is not None:
        gi = gi + static.unsqueeze(1)
    w_hh = layer.dropped_recurrent_weight()
    if layer.matmul_dtype is not None:
        w_hh = w_hh.to(layer.matmul_dtype)
    s, outs = s0, []
    for g in gi.unbind(1):
        s = layer.cell(g, s, w_hh)
        outs.append(layer.output(s))
    return torch.stack(outs, dim=1)


def _outputs_and_grads(forward, layer, x, s0, static, seed=0):
    leaves = [x, s0, *([static] if static is not None else []), *layer.parameters()]
    torch.manual_seed(seed)  # the same weight-drop mask for both forwards
    out = forward(x, s0, static)
    loss = (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum()
    return out.detach(), torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize("weight_drop", [0.0, 0.5], ids=["plain", "weight-drop"])
@pytest.mark.parametrize("static", [False, True], ids=["", "static"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_node_gives_the_plain_loops_outputs_and_every_gradient(cell, static, weight_drop):
    torch.manual_seed(3)
    kind = CELLS[cell]
    layer = kind(5, 8, weight_drop=weight_drop)
    x = torch.randn(3, 9, 5, requires_grad=True)
    s0 = torch.randn(3, layer.state_size, requires_grad=True)
    st = torch.randn(3, kind.gates * 8, requires_grad=True) if static else None
    out, grads = _outputs_and_grads(layer, layer, x, s0, st)
    assert layer(x, s0, st).grad_fn.name() == "_RecurrenceBackward"  # the node really ran
    ref_out, ref_grads = _outputs_and_grads(lambda *a: _plain_autograd_layer(layer, *a), layer, x, s0, st)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-6)
    for g, ref in zip(grads, ref_grads):
        torch.testing.assert_close(g, ref, atol=1e-6, rtol=1e-5)
        assert g.abs().sum() > 0  # every leaf really gets a gradient


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gradcheck_in_float64(cell):
    torch.manual_seed(4)
    kind = CELLS[cell]
    layer = kind(3, 4).double()
    gi = torch.randn(2, 5, kind.gates * 4, dtype=torch.float64, requires_grad=True)
    s0 = torch.randn(2, layer.state_size, dtype=torch.float64, requires_grad=True)
    w = layer.w_hh.weight.detach().clone().requires_grad_()
    b = layer.w_hh.bias.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: run_recurrence(kind, *a, None), (gi, s0, w, b))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bf16_products_give_gradients_close_to_float32(cell):
    torch.manual_seed(5)
    layer = CELLS[cell](6, 16)
    x = torch.randn(4, 12, 6, requires_grad=True)
    s0 = torch.randn(4, layer.state_size, requires_grad=True)
    ref_out, ref_grads = _outputs_and_grads(layer, layer, x, s0, None)
    layer.matmul_dtype = torch.bfloat16
    out, grads = _outputs_and_grads(layer, layer, x, s0, None)
    _, plain_grads = _outputs_and_grads(lambda *a: _plain_autograd_layer(layer, *a), layer, x, s0, None)
    assert not torch.equal(out, ref_out)  # the bf16 path really ran
    torch.testing.assert_close(out, ref_out, atol=3e-2, rtol=0)
    for g, ref, plain in zip(grads, ref_grads, plain_grads):
        scale = ref.abs().max()
        assert (g - ref).abs().max() <= 0.03 * scale  # bf16 rounding, not a wrong derivative
        assert (g - plain).abs().max() <= 0.01 * scale  # and as close as the old loop's bf16


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_evaluation_without_autograd_gives_trainings_outputs_bit_for_bit(cell):
    torch.manual_seed(6)
    layer = CELLS[cell](5, 8)
    layer.matmul_dtype = torch.bfloat16
    x, s0 = torch.randn(3, 7, 5), torch.randn(3, layer.state_size)
    trained = layer(x, s0)
    with torch.no_grad():
        assert torch.equal(layer(x, s0), trained.detach())


def test_promoted_sum_is_torchs_mixed_add_bit_for_bit():
    from seqcvae.models.recurrence import promoted_sum

    torch.manual_seed(7)
    product, bias = torch.randn(9, 40).bfloat16(), torch.randn(40)
    out = promoted_sum(product, bias)
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.add(product, bias))
