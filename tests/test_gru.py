import pytest
import torch
import torch.nn.functional as F

from seqcvae.models.gru import GRULayer, gru_gates
from seqcvae.models.recurrent import StackedRNN, last_valid, reverse_padded
from tests.torch_weights import copy_from_torch


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_step_loop_gives_torchs_outputs_and_gradients(cell):
    """StackedRNN of GRULayer / LSTMLayer with torch.nn.GRU's / nn.LSTM's weights gives their
    outputs and input gradients, by the step loop and by the fused path (cuDNN on CUDA)."""
    from seqcvae.models.decoders import CELLS

    torch.manual_seed(0)
    ref = (torch.nn.GRU if cell == "gru" else torch.nn.LSTM)(5, 7, num_layers=2, batch_first=True)
    ours = StackedRNN(CELLS[cell], 5, 7, 2)
    for i, layer in enumerate(ours.layers):
        copy_from_torch(layer, ref, i)
    x = torch.randn(3, 11, 5, requires_grad=True)
    h0, c0 = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    out_ref, _ = ref(x, h0) if cell == "gru" else ref(x, (h0, c0))
    s0 = h0 if cell == "gru" else torch.cat([h0, c0], dim=-1)  # the LSTM's state is [h, c]
    (g_ref,) = torch.autograd.grad(out_ref.square().sum(), x)
    for fused in (False, True):
        ours.fused = fused
        out = ours(x, s0)
        torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
        (g,) = torch.autograd.grad(out.square().sum(), x)
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_steps_equal_the_sequence(cell):
    """StackedRNN.step (sampling) gives the teacher-forced outputs, carrying the whole state (the
    LSTM's cell state too)."""
    from seqcvae.models.decoders import CELLS

    torch.manual_seed(1)
    kind = CELLS[cell]
    rnn = StackedRNN(kind, 4, 6, 2)
    x = torch.randn(2, 5, 4)
    s0 = torch.randn(2, 2, rnn.state_size)
    static = torch.randn(2, kind.gates * 6)
    full = rnn(x, s0, static)
    s = s0
    for t in range(5):
        s = rnn.step(x[:, t], s, static)
        torch.testing.assert_close(rnn.output(s), full[:, t], atol=1e-6, rtol=1e-5)


def test_reverse_padded_and_last_valid():
    x = torch.arange(8.0).view(2, 4, 1)
    lengths = torch.tensor([3, 4])
    rev = reverse_padded(x, lengths)
    assert rev[0, :, 0].tolist() == [2.0, 1.0, 0.0, 3.0]
    assert rev[1, :, 0].tolist() == [7.0, 6.0, 5.0, 4.0]
    torch.testing.assert_close(reverse_padded(rev, lengths), x)
    assert last_valid(x, lengths)[:, 0].tolist() == [2.0, 7.0]


def test_bf16_products_stay_close_to_fp32():
    torch.manual_seed(2)
    rnn = StackedRNN(GRULayer, 8, 16, 1)
    x = torch.randn(4, 12, 8)
    h0 = torch.zeros(1, 4, 16)
    ref = rnn(x, h0)
    rnn.layers[0].matmul_dtype = torch.bfloat16
    out = rnn(x, h0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=3e-2, rtol=0)
    assert not torch.equal(out, ref)  # the bf16 path really ran


def _written_out_gates(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The GRU cell after its matrix products, one line per equation (the step loop's formula
    before gru_gates)."""
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


def _written_out_linear(
    x: torch.Tensor, layer: torch.nn.Linear, dtype: torch.dtype | None, weight: torch.Tensor | None = None
) -> torch.Tensor:
    if dtype is None:
        return layer(x)
    w = layer.weight.to(dtype) if weight is None else weight
    return F.linear(x.to(dtype), w).to(x.dtype) + layer.bias


def _written_out_layer(
    layer: GRULayer, x: torch.Tensor, h0: torch.Tensor, static: torch.Tensor | None
) -> torch.Tensor:
    gi = _written_out_linear(x, layer.w_ih, layer.matmul_dtype)
    if static is not None:
        gi = gi + static.unsqueeze(1)
    dtype = layer.matmul_dtype
    w_hh = layer.w_hh.weight.to(dtype) if dtype is not None else None  # cast once, as the loop does
    h, outs = h0, []
    for g in gi.unbind(1):
        h = _written_out_gates(g, _written_out_linear(h, layer.w_hh, dtype, w_hh), h)
        outs.append(h)
    return torch.stack(outs, dim=1)


def test_gru_gates_are_the_written_out_formula_bit_for_bit():
    torch.manual_seed(3)
    leaves = [torch.randn(6, 3 * 16, requires_grad=True), torch.randn(6, 3 * 16, requires_grad=True)]
    leaves.append(torch.randn(6, 16, requires_grad=True))
    ref = _written_out_gates(*leaves)
    out = gru_gates(*leaves)
    assert torch.equal(out, ref)
    assert out.grad_fn is not None and type(out.grad_fn).__name__ == "_GRUGatesBackward"
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(out, leaves, g), torch.autograd.grad(ref, leaves, g)):
        assert torch.equal(a, b)
    with torch.no_grad():  # sampling: no autograd node, nothing saved
        plain = gru_gates(*leaves)
    assert plain.grad_fn is None and torch.equal(plain, ref)
    assert gru_gates(*(t.detach() for t in leaves)).grad_fn is None


def test_gru_gates_gradcheck():
    torch.manual_seed(4)
    hidden = 3
    args = (
        torch.randn(4, 3 * hidden, dtype=torch.float64, requires_grad=True),
        torch.randn(4, 3 * hidden, dtype=torch.float64, requires_grad=True),
        torch.randn(4, hidden, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(gru_gates, args)
    for skip in range(3):  # gradients reach each input alone too
        part = tuple(a.detach().requires_grad_(i != skip) for i, a in enumerate(args))
        assert torch.autograd.gradcheck(gru_gates, part)


@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("static", [False, True], ids=["plain", "static"])
def test_the_step_loop_is_the_written_out_layer_bit_for_bit(dtype, static):
    """The outputs of a GRULayer equal those of the written-out formula bit for bit, with float32
    and with bfloat16 matrix products, and so do sampling's steps; every gradient (parameters,
    inputs, h0, static) equals the formula's up to the order of the sums (the loop's node,
    models/recurrence.py, forms the recurrent weight's gradient in one product, not step by step;
    in bf16 that product's result is rounded to bf16 once)."""
    torch.manual_seed(5)
    layer = GRULayer(5, 8)
    layer.matmul_dtype = dtype
    x = torch.randn(3, 7, 5, requires_grad=True)
    h0 = torch.randn(3, 8, requires_grad=True)
    s = torch.randn(3, 24, requires_grad=True) if static else None
    leaves = [x, h0, *([s] if s is not None else []), *layer.parameters()]
    grads = []
    for forward in (layer, lambda *a: _written_out_layer(layer, *a)):
        out = forward(x, h0, s)
        loss = (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum()
        grads.append((out.detach(), torch.autograd.grad(loss, leaves)))
    (out, g), (ref_out, ref_g) = grads
    assert torch.equal(out, ref_out)
    for a, b in zip(g, ref_g):
        rel = 1e-6 if dtype is None else 2**-7  # bf16 rounding of the weight gradient (2^-8 relative)
        assert (a - b).abs().max() <= rel * b.abs().max()
    if dtype is not None:
        with torch.no_grad():  # sampling's steps: StackedRNN.step runs the cell without autograd
            rnn = StackedRNN(GRULayer, 5, 8, 1)
            rnn.layers[0] = layer
            h = rnn.step(x[:, 0], h0.unsqueeze(0), s)
        assert torch.equal(h[0], ref_out[:, 0])


def _set_fused(model: torch.nn.Module, fused: bool) -> None:
    for m in model.modules():
        if hasattr(m, "fused"):
            m.fused = fused


@pytest.mark.parametrize("decoder", ["gru", "lstm"])
def test_the_fused_path_gives_the_step_loops_outputs_and_gradients(monkeypatch, decoder):
    """On CUDA the teacher-forced passes run torch's fused GRU with the step loop's weights; on
    the CPU the two paths give the same CVAE loss and the same gradient for every parameter."""
    from seqcvae.config import ModelConfig
    from seqcvae.models import recurrent
    from seqcvae.models.cvae import CVAE, CVAEShape

    calls = []
    real = recurrent.fused_rnn
    monkeypatch.setattr(recurrent, "fused_rnn", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(0)
    cfg = ModelConfig(
        embedding_dim=8,
        encoder_hidden=12,
        encoder_layers=2,
        decoder_hidden=16,
        decoder_layers=2,
        decoder=decoder,
    )
    cfg.latent_dim, cfg.condition_dim = 6, 5
    shape = CVAEShape.from_config(
        cfg, vocab_size=11, num_continuous=2, tag_sizes=[3], max_positions=20, pad_id=0
    )
    model = CVAE(shape)
    tokens = torch.randint(4, 11, (4, 9))
    tokens[:, 0] = 1
    lengths = torch.tensor([8, 5, 3, 8])
    for b, n in enumerate(lengths.tolist()):
        tokens[b, n] = 2
        tokens[b, n + 1 :] = 0
    values, present, tags = torch.randn(4, 2), torch.ones(4, 2), torch.tensor([[1], [2], [0], [1]])
    noise = torch.randn(4, 6)
    results = []
    for fused in (False, True):
        _set_fused(model, fused)
        model.zero_grad()
        c = model.embed_conditions(values, present, tags)
        out = model(tokens, lengths, c, decoder_inputs=tokens[:, :-1], noise=noise)
        loss = out.nll.square().mean() + out.mu.square().mean() + out.logvar.square().mean()
        loss.backward()
        results.append(
            (loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        )
    (l0, g0), (l1, g1) = results
    assert len(calls) == 5  # two encoder layers in each direction and the decoder, fused only once
    assert torch.allclose(l0, l1, atol=1e-6)
    assert g0.keys() == g1.keys() and len(g0) > 10
    for name in g0:
        assert torch.allclose(g0[name], g1[name], atol=1e-5), name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_fused_path_on_cuda_matches_the_step_loop(cell):
    from seqcvae.models.decoders import CELLS

    torch.manual_seed(0)
    kind = CELLS[cell]
    rnn = StackedRNN(kind, 8, 32, 2).cuda()
    x, h0 = torch.randn(4, 10, 8, device="cuda"), torch.randn(2, 4, rnn.state_size, device="cuda")
    s, w = torch.randn(4, 5, device="cuda"), torch.randn(kind.gates * 32, 5, device="cuda")
    fused = rnn(x, h0, static_input=s, static_weight=w)
    rnn.fused = False
    loop = rnn(x, h0, static_input=s, static_weight=w)
    assert torch.allclose(fused, loop, atol=1e-4)


def test_a_seed_draws_the_gru_decoders_weights_earlier_releases_drew():
    """The decoder builds its parts in the order it always did, so a run with a given seed starts
    from the same weights as before the LSTM cell was added (values read off that release)."""
    from seqcvae.config import ModelConfig
    from seqcvae.models.cvae import CVAE, CVAEShape

    torch.manual_seed(0)
    shape = CVAEShape.from_config(
        ModelConfig(), vocab_size=30, num_continuous=2, tag_sizes=[3], max_positions=20, pad_id=0
    )
    weights = CVAE(shape).state_dict()
    known = {
        "decoder.init.weight": [0.04377151280641556, -0.0649769976735115],
        "decoder.static.weight": [-0.07611656188964844, -0.04129716753959656],
        "decoder.rnn.layers.0.w_hh.weight": [0.03362239897251129, -0.02999967895448208],
        "decoder.out.weight": [0.02005840092897415, -0.006921413354575634],
    }
    for name, values in known.items():
        assert weights[name].flatten()[:2].tolist() == pytest.approx(values, abs=1e-7), name
