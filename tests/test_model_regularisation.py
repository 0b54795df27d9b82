"""model.dropout acts on a one-layer model in training mode only; the posterior log-variance is
bounded, so a huge encoder output still gives a finite KL."""

from __future__ import annotations

import pytest
import torch

from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.models.losses import gaussian_kl


def _model(dropout: float, encoder: str = "gru", decoder: str = "gru", weight_drop: float = 0.0) -> CVAE:
    torch.manual_seed(0)
    shape = CVAEShape(
        vocab_size=12,
        num_continuous=1,
        tag_sizes=[],
        embedding_dim=8,
        encoder_hidden=8,
        decoder_hidden=8,
        latent_dim=4,
        condition_dim=4,
        dropout=dropout,
        weight_drop=weight_drop,
        encoder=encoder,
        decoder=decoder,
        heads=2,
        max_positions=12,
    )
    return CVAE(shape)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(4, 12, (6, 9), generator=gen)
    tokens[:, 0] = 1  # <bos>
    lengths = torch.full((6,), 8)
    return tokens, lengths, torch.randn(6, 4, generator=gen)


def _nll(model: CVAE) -> torch.Tensor:
    tokens, lengths, c = _batch()
    return model(tokens, lengths, c, noise=torch.zeros(6, 4)).nll


@pytest.mark.parametrize(
    ("encoder", "decoder", "dropout", "weight_drop"),
    [("gru", "gru", 0.3, 0.0), ("transformer", "transformer", 0.3, 0.0), ("gru", "gru", 0.0, 0.4)],
)
def test_dropout_and_weight_drop_change_training_outputs_only(encoder, decoder, dropout, weight_drop):
    plain = _model(0.0, encoder, decoder)
    dropped = _model(dropout, encoder, decoder, weight_drop)
    dropped.load_state_dict(plain.state_dict())  # neither adds parameters
    if weight_drop:  # it reaches every layer of the GRU decoder
        layers = list(dropped.decoder.rnn.layers)
        assert layers and all(layer.weight_drop == weight_drop for layer in layers)
    plain.eval()
    reference = _nll(plain)
    dropped.train()
    torch.manual_seed(2)
    assert not torch.allclose(_nll(dropped), reference)
    dropped.eval()
    assert torch.equal(_nll(dropped), reference)


@pytest.mark.parametrize("encoder", ["gru", "transformer"])
def test_huge_encoder_output_gives_a_finite_kl(encoder):
    model = _model(0.0, encoder)
    with torch.no_grad():
        model.encoder.head.bias.fill_(1e4)  # mu and logvar of 1e4
    tokens, lengths, c = _batch()
    mu, logvar = model.encode(tokens, lengths, c)
    kl = gaussian_kl(mu, logvar)
    assert torch.isfinite(kl).all()
    out = model(tokens, lengths, c)
    assert torch.isfinite(out.z).all() and torch.isfinite(out.nll).all()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_weight_drop_masks_the_recurrent_weights_once_per_pass_in_training_only(cell):
    """model.weight_drop: in training, one DropConnect mask over W_hh (scaled by 1 / (1 - p)) is
    shared by every step, and the step loop and the fused path draw the same one; evaluation uses
    the whole weight and the setting adds no parameters."""
    import copy

    import torch.nn.functional as F

    from seqcvae.models.decoders import CELLS

    torch.manual_seed(0)
    kind = CELLS[cell]
    layer = kind(5, 16, weight_drop=0.5)
    x, h0 = torch.randn(3, 7, 5), torch.randn(3, layer.state_size)
    assert sum(p.numel() for p in layer.parameters()) == sum(p.numel() for p in kind(5, 16).parameters())

    masked = copy.deepcopy(layer).eval()
    torch.manual_seed(3)
    with torch.no_grad():
        masked.w_hh.weight.copy_(F.dropout(layer.w_hh.weight, 0.5, training=True))
    expected = masked(x, h0)
    assert (masked.w_hh.weight == 0).float().mean() > 0.3  # the mask really drops weights

    layer.train()
    for fused in (False, True):
        layer.fused = fused
        torch.manual_seed(3)
        assert torch.allclose(layer(x, h0), expected, atol=1e-5), fused
    layer.eval()
    whole = layer(x, h0)
    assert not torch.allclose(whole, expected, atol=1e-3)
    layer.weight_drop = 0.0
    assert torch.equal(layer(x, h0), whole)


def test_locked_dropout_drops_a_unit_for_a_whole_sequence_in_training_only():
    """model.locked_dropout: one mask per sequence and unit, shared by every step, scaled by
    1 / (1 - p); evaluation is the identity."""
    from seqcvae.models.recurrent import LockedDropout, dropout_layer

    torch.manual_seed(0)
    drop = dropout_layer(0.5, locked=True)
    assert isinstance(drop, LockedDropout) and isinstance(dropout_layer(0.0, locked=True), torch.nn.Identity)
    x = torch.rand(16, 9, 32) + 1.0
    y = drop(x)
    kept = y != 0
    assert torch.equal(kept, kept[:, :1].expand_as(kept))  # each unit kept or dropped for all steps
    assert 0.35 < 1 - kept.float().mean() < 0.65
    torch.testing.assert_close(y[kept], 2 * x[kept])
    plain = torch.nn.Dropout(0.5)(x) != 0  # per-element dropout differs between steps
    assert not torch.equal(plain, plain[:, :1].expand_as(plain))
    drop.eval()
    assert torch.equal(drop(x), x)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_locked_dropout_between_layers_is_the_same_on_the_fused_path(cell):
    """With locked dropout the fused path runs layer by layer (torch's fused kernel drops per
    element between layers), drawing the same masks in the same order as the step loop."""
    from seqcvae.models.decoders import CELLS
    from seqcvae.models.recurrent import StackedRNN

    torch.manual_seed(0)
    rnn = StackedRNN(CELLS[cell], 5, 12, 3, dropout=0.5, weight_drop=0.3, locked_dropout=True).train()
    x = torch.randn(4, 7, 5)
    s0 = torch.randn(3, 4, rnn.state_size)
    static_input, static_weight = torch.randn(4, 3), torch.randn(CELLS[cell].gates * 12, 3)
    outs = []
    for fused in (False, True):
        rnn.fused = fused
        torch.manual_seed(5)
        outs.append(rnn(x, s0, static_input=static_input, static_weight=static_weight))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-5)
    torch.manual_seed(6)
    assert not torch.allclose(rnn(x, s0, static_input=static_input, static_weight=static_weight), outs[1])


def test_a_locked_dropout_model_uses_it_on_embeddings_and_in_the_recurrent_decoder():
    from seqcvae.models.recurrent import LockedDropout

    torch.manual_seed(0)
    shape = CVAEShape(
        vocab_size=12, num_continuous=1, tag_sizes=[], embedding_dim=8, encoder_hidden=8,
        decoder_hidden=8, decoder_layers=2, latent_dim=4, condition_dim=4, dropout=0.3,
        locked_dropout=True, decoder="lstm", max_positions=12,
    )  # fmt: skip
    model = CVAE(shape)
    for module in (model.embedding_dropout, model.decoder.output_dropout, model.decoder.rnn.dropout):
        assert isinstance(module, LockedDropout) and module.p == 0.3


def test_embedding_dropout_drops_whole_word_types_in_training_only():
    """model.embedding_dropout (AWD-LSTM's dropoute): in training each word type's embedding row
    is kept or zeroed for the whole batch (every occurrence alike), kept rows scaled by
    1 / (1 - p); evaluation embeds as without it, and it adds no parameters."""
    torch.manual_seed(0)
    shape = CVAEShape(
        vocab_size=40, num_continuous=1, tag_sizes=[], embedding_dim=6, encoder_hidden=8,
        decoder_hidden=8, latent_dim=4, condition_dim=4, embedding_dropout=0.5, max_positions=12,
    )  # fmt: skip
    model = CVAE(shape)
    tokens = torch.arange(1, 40).repeat(3, 1)  # every type three times, once per row
    plain = model.embedding(tokens)
    model.train()
    torch.manual_seed(1)
    dropped = model.embed(tokens)
    zero = (dropped == 0).all(-1)
    assert torch.equal(zero, zero[:1].expand_as(zero))  # a type is dropped in every row or none
    assert 0.25 < zero[0].float().mean() < 0.75
    torch.testing.assert_close(dropped[~zero], 2 * plain[~zero])
    torch.manual_seed(2)
    assert not torch.equal((model.embed(tokens) == 0).all(-1), zero)  # a new mask each pass
    model.eval()
    assert torch.equal(model.embed(tokens), plain)
    tokens, lengths, c = _batch()
    out = model.train()(tokens, lengths, c)
    out.nll.sum().backward()
    assert model.embedding.weight.grad is not None
