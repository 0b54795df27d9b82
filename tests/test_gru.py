import pytest
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


def _set_fused(model: torch.nn.Module, fused: bool) -> None:
    for m in model.modules():
        if hasattr(m, "fused"):
            m.fused = fused


def test_the_fused_path_gives_the_step_loops_outputs_and_gradients(monkeypatch):
    """On CUDA the teacher-forced passes run torch's fused GRU with the step loop's weights; on
    the CPU the two paths give the same CVAE loss and the same gradient for every parameter."""
    from seqcvae.config import ModelConfig
    from seqcvae.models import gru
    from seqcvae.models.cvae import CVAE, CVAEShape

    calls = []
    real = gru.fused_gru
    monkeypatch.setattr(gru, "fused_gru", lambda *a, **k: calls.append(1) or real(*a, **k))
    torch.manual_seed(0)
    cfg = ModelConfig(
        embedding_dim=8, encoder_hidden=12, encoder_layers=2, decoder_hidden=16, decoder_layers=2
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
        loss = out.logits.square().mean() + out.mu.square().mean() + out.logvar.square().mean()
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
def test_the_fused_path_on_cuda_matches_the_step_loop():
    torch.manual_seed(0)
    rnn = StackedGRU(8, 32, 2).cuda()
    x, h0 = torch.randn(4, 10, 8, device="cuda"), torch.randn(2, 4, 32, device="cuda")
    s, w = torch.randn(4, 5, device="cuda"), torch.randn(96, 5, device="cuda")
    fused = rnn(x, h0, static_input=s, static_weight=w)
    rnn.fused = False
    loop = rnn(x, h0, static_input=s, static_weight=w)
    assert torch.allclose(fused, loop, atol=1e-4)
