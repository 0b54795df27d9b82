"""model.dropout acts on a one-layer model in training mode only; the posterior log-variance is
bounded, so a huge encoder output still gives a finite KL."""

from __future__ import annotations

import pytest
import torch

from seqcvae.models.cvae import CVAE, CVAEShape
from seqcvae.models.losses import gaussian_kl


def _model(dropout: float, encoder: str = "gru", decoder: str = "gru") -> CVAE:
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


@pytest.mark.parametrize(("encoder", "decoder"), [("gru", "gru"), ("transformer", "transformer")])
def test_dropout_changes_training_outputs_only(encoder, decoder):
    plain = _model(0.0, encoder, decoder)
    dropped = _model(0.3, encoder, decoder)
    dropped.load_state_dict(plain.state_dict())  # dropout adds no parameters
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
