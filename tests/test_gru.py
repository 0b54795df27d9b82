import torch

from seqcvae.models.gru import GRULayer, StackedGRU, last_valid, reverse_padded


def _copy_from_torch(layer: GRULayer, ref: torch.nn.GRU, idx: int = 0) -> None:
    with torch.no_grad():
        layer.w_ih.weight.copy_(getattr(ref, f"weight_ih_l{idx}"))
        layer.w_hh.weight.copy_(getattr(ref, f"weight_hh_l{idx}"))
        layer.w_ih.bias.copy_(getattr(ref, f"bias_ih_l{idx}"))
        layer.w_hh.bias.copy_(getattr(ref, f"bias_hh_l{idx}"))


def test_matches_torch_gru_forward_and_backward():
    torch.manual_seed(0)
    ref = torch.nn.GRU(5, 7, num_layers=2, batch_first=True)
    ours = StackedGRU(5, 7, 2)
    for i, layer in enumerate(ours.layers):
        _copy_from_torch(layer, ref, i)
    x = torch.randn(3, 11, 5, requires_grad=True)
    h0 = torch.randn(2, 3, 7)
    out_ref, _ = ref(x, h0)
    out = ours(x, h0)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    (g_ref,) = torch.autograd.grad(out_ref.square().sum(), x)
    (g,) = torch.autograd.grad(out.square().sum(), x)
    torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)


def test_step_equals_sequence():
    torch.manual_seed(1)
    rnn = StackedGRU(4, 6, 2)
    x = torch.randn(2, 5, 4)
    h0 = torch.randn(2, 2, 6)
    static = torch.randn(2, 18)
    full = rnn(x, h0, static)
    h = h0
    for t in range(5):
        h = rnn.step(x[:, t], h, static)
        torch.testing.assert_close(h[-1], full[:, t], atol=1e-6, rtol=1e-5)


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
    rnn = StackedGRU(8, 16, 1)
    x = torch.randn(4, 12, 8)
    h0 = torch.zeros(1, 4, 16)
    ref = rnn(x, h0)
    rnn.layers[0].matmul_dtype = torch.bfloat16
    out = rnn(x, h0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=3e-2, rtol=0)
    assert not torch.equal(out, ref)  # the bf16 path really ran
