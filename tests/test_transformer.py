import pytest
import torch

from seqcvae.generation.beam import beam_search
from seqcvae.models.cvae import CVAE, CVAEShape

pytestmark = pytest.mark.usefixtures("one_thread")

DECODERS = ["gru", "transformer", "transformer:prefix:3", "transformer:memory:1", "transformer:memory:3"]


def _model(encoder: str, decoder: str) -> CVAE:
    """decoder: "gru", "transformer" or "transformer:<prefix|memory>:<condition tokens>"."""
    torch.manual_seed(0)
    kind, condition, tokens = (decoder.split(":") + ["prefix", "1"])[:3]
    return CVAE(
        CVAEShape(
            vocab_size=12,
            num_continuous=2,
            tag_sizes=[3],
            embedding_dim=8,
            encoder_hidden=16,
            decoder_hidden=16,
            encoder_layers=2,
            decoder_layers=2,
            latent_dim=4,
            condition_dim=6,
            heads=2,
            max_positions=20,
            encoder=encoder,
            decoder=kind,
            decoder_condition=condition,
            condition_tokens=int(tokens),
        )
    ).eval()


def _inputs():
    tokens = torch.tensor([[1, 5, 6, 7, 8, 2], [1, 9, 4, 2, 0, 0]])
    lengths = torch.tensor([5, 3])
    values = torch.randn(2, 2)
    c_args = (values, torch.ones_like(values), torch.tensor([[1], [2]]))
    return tokens, lengths, c_args


@pytest.mark.parametrize("decoder", DECODERS)
def test_cached_steps_equal_full_forward(decoder):
    """Step-by-step decoding with the KV cache / GRU state gives the teacher-forced logits."""
    model = _model("transformer", decoder)
    tokens, lengths, c_args = _inputs()
    with torch.no_grad():
        c = model.embed_conditions(*c_args)
        mu, _ = model.encode(tokens, lengths, c)
        full = model.decode(tokens[:, :-1], mu, c)
        state = model.decoder.start(torch.cat([mu, c], dim=-1))
        for t in range(tokens.shape[1] - 1):
            logits, state = model.decoder.step(model.embedding(tokens[:, t]), state)
            torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-5)


def test_transformer_encoder_ignores_padding():
    model = _model("transformer", "transformer")
    tokens, lengths, c_args = _inputs()
    with torch.no_grad():
        c = model.embed_conditions(*c_args)
        mu1, _ = model.encode(tokens, lengths, c)
        padded = tokens.clone()
        padded[1, 4:] = 7  # garbage after the end must not matter
        mu2, _ = model.encode(padded, lengths, c)
    torch.testing.assert_close(mu1, mu2)


def _loss(model: CVAE, tokens: torch.Tensor, lengths: torch.Tensor, c_args) -> torch.Tensor:
    """A deterministic ELBO: reconstruction NLL from z = mu, plus the KL to N(0, I)."""
    from seqcvae.models.losses import gaussian_kl, reconstruction_nll

    c = model.embed_conditions(*c_args)
    mu, logvar = model.encode(tokens, lengths, c)
    rec = reconstruction_nll(model.decode(tokens[:, :-1], mu, c), tokens[:, 1:], model.shape.pad_id)
    return (rec + gaussian_kl(mu, logvar).sum(-1)).sum()


@pytest.mark.parametrize("decoder", DECODERS[1:])
def test_transformer_gradients_match_finite_differences(decoder):
    """Backward through encoder, conditioning and decoder gives the derivative of the loss: in
    float64, autograd matches central differences on entries of every parameter tensor."""
    model = _model("transformer", decoder).double()
    tokens, lengths, (values, present, tags) = _inputs()
    c_args = (values.double(), present.double(), tags)
    model.zero_grad()
    _loss(model, tokens, lengths, c_args).backward()
    rng = torch.Generator().manual_seed(0)
    h = 1e-6
    checked = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            assert p.grad is not None, name
            flat, grad = p.view(-1), p.grad.view(-1)
            for i in torch.randint(len(flat), (2,), generator=rng).tolist():
                old = float(flat[i])
                flat[i] = old + h
                up = float(_loss(model, tokens, lengths, c_args))
                flat[i] = old - h
                down = float(_loss(model, tokens, lengths, c_args))
                flat[i] = old
                assert (up - down) / (2 * h) == pytest.approx(float(grad[i]), rel=1e-4, abs=1e-6), name
                checked += 1
    assert checked == 2 * len(list(model.parameters()))


@pytest.mark.parametrize("decoder", DECODERS)
def test_training_steps_fit_a_fixed_batch(decoder):
    """Adam on one batch drives the deterministic ELBO down (a wrong gradient sign or a detached
    path would not)."""
    model = _model("transformer", decoder).train()
    tokens, lengths, c_args = _inputs()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        start = float(_loss(model, tokens, lengths, c_args))
    for _ in range(40):
        opt.zero_grad()
        _loss(model, tokens, lengths, c_args).backward()
        opt.step()
    with torch.no_grad():
        assert float(_loss(model, tokens, lengths, c_args)) < 0.2 * start  # about 0.06 or less


@pytest.mark.parametrize("decoder", DECODERS)
def test_beam_search_finds_sequences_at_least_as_likely_as_greedy(decoder):
    from seqcvae.generation.sampling import SamplingSettings, decode_tokens

    model = _model("gru", decoder)
    z = torch.randn(3, 4)
    c = model.embed_conditions(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 1, dtype=torch.long))

    def logp(ids: torch.Tensor) -> torch.Tensor:
        inp = torch.cat([torch.ones(3, 1, dtype=torch.long), ids[:, :-1]], dim=1)
        lp = model.decode(inp, z, c).log_softmax(-1).gather(2, ids.unsqueeze(-1)).squeeze(-1)
        return (lp * (ids != 0)).sum(1)

    with torch.no_grad():
        greedy = decode_tokens(model, z, c, SamplingSettings(strategy="greedy", max_length=15))
        beam = beam_search(model, z, c, beam_size=4, max_length=15, length_penalty=0.0)
        assert (logp(beam) >= logp(greedy) - 1e-4).all()
        assert torch.equal(
            beam_search(model, z, c, beam_size=1, max_length=15, length_penalty=0.0),
            greedy[:, : beam_search(model, z, c, 1, 15, 0.0).shape[1]],
        )


@pytest.mark.parametrize("decoder", DECODERS[1:])
def test_transformer_decoder_depends_on_z(decoder):
    """Both conditioning modes pass (z, c) through: a different z changes the logits."""
    model = _model("gru", decoder)
    tokens, lengths, c_args = _inputs()
    with torch.no_grad():
        c = model.embed_conditions(*c_args)
        a = model.decode(tokens[:, :-1], torch.zeros(2, 4), c)
        b = model.decode(tokens[:, :-1], torch.ones(2, 4), c)
    assert (a - b).abs().max() > 1e-3
