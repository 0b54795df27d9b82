"""Fit a mixture prior to a trained model's aggregate posterior and write it into a checkpoint
(`seqcvae fit-prior`). The encoder and decoder are unchanged: only p(z) becomes the mixture."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from seqcvae.data.dataset import TokenDataset
from seqcvae.models.checkpoint import CheckpointData
from seqcvae.models.cvae import CVAE
from seqcvae.models.losses import gaussian_log_prob
from seqcvae.models.mixture_prior import MixturePrior


@torch.no_grad()
def posterior_draws(
    model: CVAE, ds: TokenDataset, samples: int, seed: int = 0, batch_size: int = 256
) -> torch.Tensor:
    """`samples` draws z ~ q(z | x, c) per sequence of `ds` under its own conditions, (N * samples, Z),
    with the model in evaluation mode (no dropout)."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    out = []
    for b in ds.iter_batches(batch_size):
        b = b.to(device)
        c = model.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
        mu, logvar = model.encode(b.tokens, b.lengths, c)
        for _ in range(samples):
            eps = torch.randn(mu.shape, generator=gen).to(device)
            out.append(CVAE.reparameterise(mu, logvar, eps).float().cpu())
    return torch.cat(out)


def fit_mixture_prior(
    model: CVAE,
    ds: TokenDataset,
    components: int = 64,
    samples: int = 4,
    iterations: int = 50,
    seed: int = 0,
) -> tuple[MixturePrior, dict[str, Any]]:
    """A MixturePrior of `components` fitted by EM to `samples` posterior draws per sequence of
    `ds` (the training data), and what the fit did (points, iterations, log-likelihood of the
    draws before and after, seconds)."""
    start = time.perf_counter()
    z = posterior_draws(model, ds, samples, seed)
    prior = MixturePrior(components, z.shape[1])
    history = prior.fit(z, iterations, seed)
    standard = float(gaussian_log_prob(z.double()).mean())
    report = {
        "components": components,
        "sequences": len(ds),
        "draws": len(z),
        "iterations": iterations,
        "draw_log_likelihood_standard": standard,
        "draw_log_likelihood_mixture": float(prior.log_prob(z.double()).mean()),
        "first_iteration_log_likelihood": history[0] if history else None,
        "seconds": time.perf_counter() - start,
    }
    return prior, report


def with_mixture_prior(ckpt: CheckpointData, prior: MixturePrior, report: dict[str, Any]) -> CheckpointData:
    """`ckpt` with model.prior = mixture: its shape, config and weights carry `prior`; the
    optimiser state is dropped (the result is a model to use, not to resume)."""
    k = int(prior.mu.shape[0])
    shape = {**ckpt.meta["model_shape"], "prior": "mixture", "prior_components": k}
    config = {**ckpt.config, "model": {**ckpt.config["model"], "prior": "mixture", "prior_components": k}}
    weights = {n: t for n, t in ckpt.weights.items() if not n.startswith("prior.")}
    weights.update({f"prior.{n}": t.detach().float().cpu() for n, t in prior.state_dict().items()})
    meta = {**ckpt.meta, "model_shape": shape, "prior_fit": report}
    return dataclasses.replace(ckpt, meta=meta, config=config, weights=weights, train_state=None)
