"""Loss terms as plain functions of model outputs (the trainer combines and weights them)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def token_nll(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Per-token NLL in nats: logits (B, T, V), targets (B, T) -> (B, T), 0 where targets are pad_id."""
    return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad_id, reduction="none")


def reconstruction_nll(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Per-sequence NLL in nats: logits (B, T, V), targets (B, T) with pad_id ignored -> (B,)."""
    return token_nll(logits, targets, pad_id).sum(dim=1)


def gaussian_log_prob(
    z: torch.Tensor, mu: torch.Tensor | None = None, logvar: torch.Tensor | None = None
) -> torch.Tensor:
    """log N(z; mu, diag exp logvar) summed over the last dimension; N(0, I) when mu is None."""
    if mu is None or logvar is None:
        return -0.5 * (z * z + LOG_2PI).sum(-1)
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + LOG_2PI).sum(-1)


def gaussian_kl(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    prior_mu: torch.Tensor | None = None,
    prior_logvar: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(N(mu, exp logvar) || prior) per latent dimension (B, Z); prior N(0, I) when None."""
    if prior_mu is None or prior_logvar is None:
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu).pow(2)) / prior_logvar.exp() - 1.0)


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float) -> torch.Tensor:
    """KL to optimise, (B,): each dimension's batch-mean KL is floored at `free_bits` nats.

    Below the floor the dimension gets no gradient (Kingma et al. 2016), so the decoder is not
    pushed to ignore z while the KL is small.
    """
    if free_bits <= 0:
        return kl_per_dim.sum(dim=1)
    per_dim = kl_per_dim.mean(dim=0)
    clamped = torch.clamp(per_dim, min=free_bits)
    # The same batch-level total on every row, so that the batch mean equals clamped.sum().
    return clamped.sum().expand(kl_per_dim.shape[0])


def mmd_to_standard_normal(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Unbiased squared MMD between the rows of z (B, Z) and prior draws (B, Z) from N(0, I),
    with inverse multiquadratic kernels C / (C + |x - y|^2), C = s * 2Z for s in 0.1 .. 10 (the
    scales of WAE, Tolstikhin et al. 2018): a scalar, about 0 when z follows the prior."""
    n, dim = z.shape
    if n < 2:
        return z.sum() * 0.0
    both = torch.cat([z, prior])
    d2 = torch.cdist(both, both).pow(2)
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    total = z.new_zeros(())
    for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        k = (2.0 * dim * s) / (2.0 * dim * s + d2)
        kzz, kpp, kzp = k[:n, :n], k[n:, n:], k[:n, n:]
        total = total + kzz[off].mean() + kpp[off].mean() - 2.0 * kzp.mean()
    return total
