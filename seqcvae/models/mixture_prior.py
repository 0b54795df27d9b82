"""A diagonal Gaussian mixture prior p(z) = sum_k w_k N(mu_k, diag exp logvar_k), fitted after
training to the model's aggregate posterior (`fit`, by EM on posterior draws).

The best prior for a trained encoder is its aggregate posterior q(z) = mean_x q(z | x); the gap
KL(q(z) || N(0, I)) is paid by every sequence's bound, and a mixture fitted to q(z) takes most
of it back without changing the decoder or the encoder (Tomczak and Welling's VampPrior and
Bauer and Mnih's learned priors make the same point during training). Its tensors are buffers:
fitted, not trained by gradient.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seqcvae.models.losses import LOG_2PI

MIN_LOGVAR = math.log(1e-4)  # a component's variance floor in EM (no collapse onto one point)


class MixturePrior(nn.Module):
    log_weights: torch.Tensor  # (K,) log w_k
    mu: torch.Tensor  # (K, Z)
    logvar: torch.Tensor  # (K, Z)

    def __init__(self, components: int, latent_dim: int):
        super().__init__()
        self.register_buffer("log_weights", torch.full((components,), -math.log(components)))
        self.register_buffer("mu", torch.zeros(components, latent_dim))
        self.register_buffer("logvar", torch.zeros(components, latent_dim))

    def component_log_prob(self, z: torch.Tensor, z_squared: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K): log w_k + log N(z_n; mu_k, diag exp logvar_k), in float64 (two products;
        `z_squared`: z * z in float64 when the caller has it)."""
        z, mu, logvar = z.double(), self.mu.double(), self.logvar.double()
        prec = (-logvar).exp()
        const = self.log_weights.double() - 0.5 * (
            (mu * mu * prec).sum(-1) + logvar.sum(-1) + mu.shape[1] * LOG_2PI
        )
        zz = z * z if z_squared is None else z_squared
        return const - 0.5 * zz @ prec.T + z @ (mu * prec).T

    def log_prob(self, z: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        """log p(z) (N,) for z (N, Z), in z's dtype."""
        parts = [self.component_log_prob(part).logsumexp(-1) for part in z.split(chunk)]
        return torch.cat(parts).to(z.dtype)

    def sample(self, eps: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu_k + sigma_k * eps for eps (B, Z) and components k drawn by their weights."""
        probs = self.log_weights.exp().cpu()
        k = torch.multinomial(probs, eps.shape[0], replacement=True, generator=generator).to(eps.device)
        return self.mu[k] + (0.5 * self.logvar[k]).exp() * eps.to(self.mu.dtype)

    @torch.no_grad()
    def fit(self, z: torch.Tensor, iterations: int = 50, seed: int = 0) -> list[float]:
        """EM on points z (N, Z) (draws from the posteriors), starting from K distinct random
        points with the data's variance and equal weights. Returns the mean log-likelihood of z
        under the mixture at the start of each iteration (EM does not let it decrease)."""
        n, d = z.shape
        k = self.mu.shape[0]
        if n < k:
            raise ValueError(f"{n} points cannot fit {k} mixture components")
        z = z.double()
        gen = torch.Generator().manual_seed(seed)
        self.mu.copy_(z[torch.randperm(n, generator=gen)[:k]])
        self.logvar.copy_(z.var(0).clamp_min(1e-4).log().expand(k, d))
        self.log_weights.fill_(-math.log(k))
        history = []
        zz = z * z
        parts = list(zip(z.split(4096), zz.split(4096)))
        for _ in range(iterations):
            log_r = torch.cat([self.component_log_prob(part, sq) for part, sq in parts])  # (N, K)
            total = log_r.logsumexp(-1, keepdim=True)
            history.append(float(total.mean()))
            r = (log_r - total).exp()
            nk = r.sum(0) + 1e-10
            mu = (r.T @ z) / nk[:, None]
            var = (r.T @ zz) / nk[:, None] - mu * mu
            self.mu.copy_(mu)
            self.logvar.copy_(var.clamp_min(1e-4).log().clamp_min(MIN_LOGVAR))
            self.log_weights.copy_((nk / nk.sum()).log())
        return history
