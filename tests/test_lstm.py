"""The LSTM decoder cell (models/lstm.py): torch.nn.LSTM's numbers through the step loop, the
incremental steps that sampling uses, and bf16 products."""

import torch

from seqcvae.models.lstm import LSTMLayer
from seqcvae.models.recurrent import StackedRNN


def _copy_from_torch(rnn: StackedRNN, ref: torch.nn.LSTM) -> None:
    with torch.no_grad():
        for i, layer in enumerate(rnn.layers):
            layer.w_ih.weight.copy_(getattr(ref, f"weight_ih_l{i}"))
            layer.w_hh.weight.copy_(getattr(ref, f"weight_hh_l{i}"))
            layer.w_ih.bias.copy_(getattr(ref, f"bias_ih_l{i}"))
            layer.w_hh.bias.copy_(getattr(ref, f"bias_hh_l{i}"))


def test_the_step_loop_gives_torchs_lstm_outputs_and_gradients():
    torch.manual_seed(0)
    ref = torch.nn.LSTM(5, 7, num_layers=2, batch_first=True)
    ours = StackedRNN(LSTMLayer, 5, 7, 2)
    _copy_from_torch(ours, ref)
    x = torch.randn(3, 11, 5, requires_grad=True)
    h0, c0 = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    out_ref, _ = ref(x, (h0, c0))
    out = ours(x, torch.cat([h0, c0], dim=-1))  # the state is [h, c]
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    (g_ref,) = torch.autograd.grad(out_ref.square().sum(), x)
    (g,) = torch.autograd.grad(out.square().sum(), x)
    torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)
    for fused in (True, False):  # torch's fused LSTM with the layers' weights (cuDNN on CUDA)
        ours.fused = fused
        torch.testing.assert_close(ours(x, torch.cat([h0, c0], dim=-1)), out_ref, atol=1e-5, rtol=1e-5)


def test_steps_equal_the_sequence_and_carry_the_cell_state():
    torch.manual_seed(1)
    rnn = StackedRNN(LSTMLayer, 4, 6, 2)
    assert rnn.state_size == 12
    x = torch.randn(2, 5, 4)
    s0 = torch.randn(2, 2, 12)
    static = torch.randn(2, 24)
    full = rnn(x, s0, static)
    s = s0
    for t in range(5):
        s = rnn.step(x[:, t], s, static)
        torch.testing.assert_close(rnn.output(s), full[:, t], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(s[..., 6:], s0[..., 6:])  # the cell state moved


def test_the_forget_gate_starts_open_and_bf16_products_stay_close():
    torch.manual_seed(2)
    layer = LSTMLayer(8, 16)
    assert torch.equal(layer.w_ih.bias[16:32], torch.ones(16))
    assert layer.w_ih.bias[:16].abs().max() <= 0.25  # the other gates: torch's uniform(+-1/sqrt(H))
    x, s0 = torch.randn(4, 12, 8), torch.zeros(4, 32)
    ref = layer(x, s0)
    layer.matmul_dtype = torch.bfloat16
    out = layer(x, s0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=3e-2, rtol=0)
    assert not torch.equal(out, ref)  # the bf16 path really ran
