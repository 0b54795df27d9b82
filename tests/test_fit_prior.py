"""The mixture prior (`model.prior = mixture`, `seqcvae fit-prior`): EM on known mixtures, the
CVAE's prior density and KL under it, and the command end to end on a model whose posteriors are
far from N(0, I)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqcvae.models.mixture_prior import MixturePrior


def _two_clusters(n: int = 4000) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n // 4, 2, generator=gen) * 0.5 + torch.tensor([4.0, 0.0])
    b = torch.randn(3 * n // 4, 2, generator=gen) * torch.tensor([1.0, 0.2]) + torch.tensor([-3.0, 1.0])
    return torch.cat([a, b])


def test_em_recovers_two_clusters_and_never_lowers_the_likelihood():
    prior = MixturePrior(2, 2)
    history = prior.fit(_two_clusters(), iterations=40)
    assert all(b >= a - 1e-6 for a, b in zip(history, history[1:]))  # float32 storage
    order = prior.mu[:, 0].argsort()
    mu, sd, w = prior.mu[order], (0.5 * prior.logvar[order]).exp(), prior.log_weights[order].exp()
    torch.testing.assert_close(mu, torch.tensor([[-3.0, 1.0], [4.0, 0.0]]), atol=0.08, rtol=0)
    torch.testing.assert_close(sd, torch.tensor([[1.0, 0.2], [0.5, 0.5]]), atol=0.05, rtol=0)
    torch.testing.assert_close(w, torch.tensor([0.75, 0.25]), atol=0.02, rtol=0)


def test_log_prob_is_the_weighted_sum_of_the_components_densities():
    prior = MixturePrior(2, 1)
    prior.log_weights.copy_(torch.tensor([0.3, 0.7]).log())
    prior.mu.copy_(torch.tensor([[0.0], [2.0]]))
    prior.logvar.copy_(torch.tensor([[0.0], [math.log(0.25)]]))
    z = torch.tensor([[0.0], [2.0], [-1.0]])

    def normal(x: float, m: float, s: float) -> float:
        return math.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    expected = [math.log(0.3 * normal(x, 0, 1) + 0.7 * normal(x, 2, 0.5)) for x in (0.0, 2.0, -1.0)]
    torch.testing.assert_close(prior.log_prob(z), torch.tensor(expected))


def test_samples_follow_the_weights_and_the_generator():
    prior = MixturePrior(2, 1)
    prior.log_weights.copy_(torch.tensor([0.2, 0.8]).log())
    prior.mu.copy_(torch.tensor([[-10.0], [10.0]]))
    prior.logvar.fill_(math.log(0.01))
    eps = torch.randn(5000, 1, generator=torch.Generator().manual_seed(1))
    z = prior.sample(eps, torch.Generator().manual_seed(2))
    assert abs(float((z > 0).float().mean()) - 0.8) < 0.02
    assert torch.equal(z, prior.sample(eps, torch.Generator().manual_seed(2)))
    torch.testing.assert_close((z - z.sign() * 10).abs().max(), 0.1 * eps.abs().max())


def test_the_cvae_scores_z_under_its_prior_and_refuses_to_train_with_a_mixture():
    from seqcvae.errors import ConfigError
    from seqcvae.models.cvae import CVAE, CVAEShape
    from seqcvae.models.losses import gaussian_kl

    common = dict(vocab_size=12, num_continuous=1, tag_sizes=[], embedding_dim=8, encoder_hidden=8)
    common |= dict(decoder_hidden=8, latent_dim=2, condition_dim=4, max_positions=12)
    torch.manual_seed(0)
    standard = CVAE(CVAEShape(**common))
    mixture = CVAE(CVAEShape(**common, prior="mixture", prior_components=2))
    mixture.prior.fit(_two_clusters(), iterations=20)
    c, z = torch.zeros(3, 4), torch.tensor([[4.0, 0.0], [-3.0, 1.0], [0.0, 0.0]])
    mu, logvar = torch.tensor([[4.0, 0.0]] * 3), torch.full((3, 2), -2.0)
    torch.testing.assert_close(standard.prior_log_prob(z, c), -0.5 * (z * z).sum(-1) - math.log(2 * math.pi))
    torch.testing.assert_close(mixture.prior_log_prob(z, c), mixture.prior.log_prob(z))
    torch.testing.assert_close(standard.kl_to_prior(mu, logvar, c, z), gaussian_kl(mu, logvar).sum(-1))
    draws = mu + (0.5 * logvar).exp() * torch.randn(4000, 3, 2, generator=torch.Generator().manual_seed(0))
    kl = mixture.kl_to_prior(mu, logvar, c, draws)  # q sits on one cluster: much closer than to N(0, I)
    assert (kl > 0).all() and (kl < gaussian_kl(mu, logvar).sum(-1) - 5).all()
    with pytest.raises(ConfigError, match="fit-prior"):
        mixture.prior_params(c)


def _evaluate(run, data, capsys) -> dict:
    from seqcvae.cli import main

    args = ["evaluate", "--checkpoint", str(run), "--data", str(data), "--k", "20", "--n", "0"]
    assert main([*args, "--max-sequences", "0", "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)["diagnostics"]


def test_fit_prior_raises_the_likelihood_of_a_model_whose_posteriors_are_clustered(
    overfit_run, tmp_path, capsys, one_thread
):
    """The overfit model's z carries each of its 24 molecules, so its aggregate posterior is 24
    tight clusters, far from N(0, I): a 24-component mixture prior must raise the IW bound of the
    same molecules (the decoder is the same) and lower their KL, and generation draws from it."""
    from seqcvae.cli import main
    from seqcvae.models.checkpoint import load_checkpoint

    run, mols = overfit_run
    out = tmp_path / "mixture"
    args = ["fit-prior", "--checkpoint", str(run), "--out", str(out), "--components", "24"]
    assert main([*args, "--samples", "20", "--workers", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["draws"] == 24 * 20 and report["components"] == 24
    assert report["draw_log_likelihood_mixture"] > report["draw_log_likelihood_standard"] + 5
    ckpt = load_checkpoint(out)
    assert ckpt.meta["model_shape"]["prior"] == "mixture" and ckpt.config["model"]["prior"] == "mixture"
    assert ckpt.train_state is None and ckpt.weights["prior.mu"].shape == (24, 16)

    data = run.parent / "mols.csv"
    before, after = _evaluate(run, data, capsys), _evaluate(out, data, capsys)
    assert after["iw_nll"] < before["iw_nll"] - 1.0, (before, after)
    assert after["kl"] < before["kl"]
    assert main(["generate", "--checkpoint", str(out), "--n", "20", "--seed", "3", "--json"]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.strip()]) >= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--components", "0"], "--components 0: expected a whole number >= 1"),
        (["--components", "1000"], "--components 1000 is more than the 96 posterior draws"),
    ],
)
def test_fit_prior_bad_input_gets_one_line_and_exit_2(overfit_run, tmp_path, capsys, extra, message):
    from seqcvae.cli import main

    run, _ = overfit_run
    out = tmp_path / "new"
    assert main(["fit-prior", "--checkpoint", str(run), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_fit_prior_never_overwrites_and_training_refuses_a_mixture(overfit_run, tmp_path, capsys):
    from seqcvae.cli import main

    run, _ = overfit_run
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["fit-prior", "--checkpoint", str(run), "--out", str(taken)]) == 2
    assert "exists" in capsys.readouterr().err and (taken / "keep.txt").read_text() == "mine"
    args = ["train", "--config", "smiles_tiny", "--out", str(tmp_path / "t"), "--no-progress"]
    assert main([*args, "model.prior=mixture", "train.max_steps=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: model.prior = mixture is fitted") and "\n" not in err
