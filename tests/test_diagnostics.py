"""Diagnostics on a synthetic encoder whose posteriors are known: KL, active units, mutual
information and the likelihood bounds have closed-form or numerically exact values."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from seqcvae.data.conditions import EncodedConditions
from seqcvae.data.dataset import TokenDataset
from seqcvae.evaluation.diagnostics import evaluate_model
from seqcvae.models.losses import gaussian_kl, gaussian_log_prob, token_nll
from seqcvae.tokenizers.base import PAD

pytestmark = pytest.mark.usefixtures("one_thread")

FIRST = 4  # first ordinary token id (0-3: pad, bos, eos, unk)
VOCAB = 10


class KnownPosteriors(nn.Module):
    """Stands in for a CVAE: q(z|x) = N(means[k], diag exp logvars[k]) where k = x's first token
    minus FIRST; the decoder ignores z (uniform logits), so log p(x|z) = -(tokens) * log VOCAB."""

    def __init__(
        self, means: np.ndarray, logvars: np.ndarray, prior: tuple[np.ndarray, np.ndarray] | None = None
    ):
        super().__init__()
        self.means = torch.tensor(means, dtype=torch.float32)
        self.logvars = torch.tensor(logvars, dtype=torch.float32)
        self._prior = None if prior is None else tuple(torch.tensor(p, dtype=torch.float32) for p in prior)
        self.anchor = nn.Parameter(torch.zeros(1))  # evaluate_model reads the device off a parameter
        self.shape = SimpleNamespace(pad_id=PAD)  # the loss ignores padding by the model's pad id

    def embed_conditions(self, values: torch.Tensor, present: torch.Tensor, tags: torch.Tensor):
        return torch.zeros(values.shape[0], 0)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor, c: torch.Tensor):
        k = tokens[:, 1] - FIRST
        return self.means[k], self.logvars[k]

    def prior_params(self, c: torch.Tensor):
        if self._prior is None:
            return None, None
        n = c.shape[0]
        return self._prior[0].expand(n, -1), self._prior[1].expand(n, -1)

    def prior_log_prob(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(z, *self.prior_params(c))

    def kl_to_prior(self, mu: torch.Tensor, logvar: torch.Tensor, c: torch.Tensor, z: torch.Tensor):
        return gaussian_kl(mu, logvar, *self.prior_params(c)).sum(-1)

    def decode(self, inputs: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*inputs.shape, VOCAB)

    def decode_nll(self, inputs: torch.Tensor, z: torch.Tensor, c: torch.Tensor, targets: torch.Tensor):
        return token_nll(self.decode(inputs, z, c), targets, PAD)


def _dataset(classes: list[int], lengths: list[int]) -> TokenDataset:
    """Sequence i: token FIRST + classes[i], then filler tokens up to lengths[i] tokens."""
    ids = [[FIRST + k] + [FIRST] * (n - 1) for k, n in zip(classes, lengths)]
    n = len(ids)
    none = EncodedConditions(
        np.zeros((n, 0), np.float32), np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    )
    return TokenDataset.from_ids(ids, none)


def _run(model: KnownPosteriors, ds: TokenDataset, k: int = 4) -> dict[str, float]:
    return evaluate_model(model, ds, k=k, batch_size=256, reconstruction=False)  # type: ignore[arg-type]


# Four classes, eight latent dimensions: 0-2 depend on x strongly, 3 only weakly (variance of its
# mean across the data below the 0.01 threshold), 4-7 not at all (4 and 5 sit away from 0).
MEANS = np.array(
    [
        [1.0, -0.5, 0.0, 0.00, 0.0, 0.7, 0.0, -0.3],
        [-1.0, 0.5, 0.3, 0.08, 0.0, 0.7, 0.0, -0.3],
        [0.5, 0.5, -0.3, 0.00, 0.0, 0.7, 0.0, -0.3],
        [-0.5, -0.5, 0.0, 0.08, 0.0, 0.7, 0.0, -0.3],
    ]
)
LOGVARS = np.tile(np.array([-1.0, -2.0, 0.0, -0.5, 0.0, 0.3, -3.0, 0.0]), (4, 1))


def test_kl_active_units_and_bounds_on_known_posteriors():
    classes = [i % 4 for i in range(400)]
    lengths = [3 + i % 5 for i in range(400)]
    out = _run(KnownPosteriors(MEANS, LOGVARS), _dataset(classes, lengths))
    # KL(N(m, s^2) || N(0, 1)) = 0.5 (m^2 + s^2 - 1 - log s^2) per dimension; classes are balanced.
    kl_dims = 0.5 * (MEANS**2 + np.exp(LOGVARS) - 1.0 - LOGVARS)
    kl = float(kl_dims.sum(axis=1).mean())
    assert out["kl"] == pytest.approx(kl, rel=1e-5)
    # Dimension variances of E[z|x] across the data: 0.625, 0.25, 0.045, 0.0016, then 0 four times.
    assert out["active_units"] == 3
    assert out["latent_dim"] == 8
    rec = np.mean([n + 1 for n in lengths]) * math.log(VOCAB)  # every token and <eos>, uniform over VOCAB
    assert out["rec"] == pytest.approx(rec, rel=1e-6)
    # "nelbo" is the negative ELBO, rec + KL (lower is better); no key calls it the ELBO.
    assert out["nelbo"] == pytest.approx(rec + kl, rel=1e-6)
    assert "elbo" not in out
    # The decoder ignores z, so log p(x) = log p(x|z) exactly and every IW bound lies in [rec, nelbo].
    assert rec - 1e-4 <= out["iw_nll"] <= out["nelbo"] + 1e-4
    tokens = sum(n + 1 for n in lengths)
    assert out["ppl"] == pytest.approx(math.exp(out["iw_nll"] * 400 / tokens), rel=1e-6)
    assert out["sequences"] == 400


def test_posterior_equal_to_conditional_prior_has_no_kl_and_exact_likelihood():
    means, logvars = MEANS[:1], LOGVARS[:1]
    model = KnownPosteriors(means, logvars, prior=(means[0], logvars[0]))
    out = _run(model, _dataset([0] * 50, [4] * 50), k=8)
    rec = 5 * math.log(VOCAB)
    assert out["kl"] == pytest.approx(0.0, abs=1e-6)
    assert out["iw_nll"] == pytest.approx(rec, rel=1e-6)  # importance weights are all p(x|z) = p(x)
    assert out["active_units"] == 0


def _mixture_mi(a: float) -> float:
    """I(x; z) for x -> +-1 equally likely and z | x ~ N(a x, 1): h(z) - h(z|x), by quadrature."""
    z = np.linspace(-a - 12.0, a + 12.0, 200_001)
    phi = lambda u: np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)  # noqa: E731
    p = 0.5 * phi(z - a) + 0.5 * phi(z + a)
    h_z = float(-np.sum(p * np.log(p)) * (z[1] - z[0]))
    return h_z - 0.5 * math.log(2 * math.pi * math.e)


@pytest.mark.parametrize("a", [0.0, 1.0, 2.0, 5.0])
def test_mutual_information_of_a_two_component_posterior(a):
    """Posterior means +-a in one dimension (unit variance), a second dimension that ignores x."""
    means = np.array([[a, 0.0], [-a, 0.0]])
    logvars = np.zeros((2, 2))
    n = 2000
    out = _run(KnownPosteriors(means, logvars), _dataset([i % 2 for i in range(n)], [5] * n), k=1)
    expected = _mixture_mi(a)
    if a == 5.0:
        assert expected == pytest.approx(math.log(2), abs=1e-3)  # the components barely overlap
    # The estimator draws one z per sequence: Monte Carlo error about 0.03 here.
    assert out["mutual_info"] == pytest.approx(expected, abs=0.08)
    assert out["active_units"] == (1 if a > 0 else 0)


def test_mutual_information_uses_all_sequences_not_the_shortest():
    """More than 2000 sequences: the aggregate posterior must be a fair sample of all of them,
    here half short sequences of one class and half long ones of the other (MI = log 2)."""
    n = 4000
    classes = [0] * (n // 2) + [1] * (n // 2)
    lengths = [3] * (n // 2) + [6] * (n // 2)
    means = np.array([[5.0], [-5.0]])
    out = _run(KnownPosteriors(means, np.zeros((2, 1))), _dataset(classes, lengths), k=1)
    assert out["mutual_info"] == pytest.approx(math.log(2), abs=0.08)
