"""The LSTM decoder cell (models/lstm.py): the forget gate's bias and bf16 products (torch.nn.LSTM's
numbers and the incremental steps that sampling uses: tests/test_gru.py, for both cells)."""

import torch

from seqcvae.models.lstm import LSTMLayer


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
