"""Training policy, the arithmetic of one step: condition and word dropout, the KL weight and LR
at a step, and the per-token loss with free bits. Pure functions of tensors, the config and an
explicit generator (every process of a distributed run draws the same masks)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seqcvae.config import TrainConfig
from seqcvae.models.losses import free_bits_kl
from seqcvae.tokenizers.base import BOS, EOS, PAD, UNK
from seqcvae.training.annealing import beta_at, lr_at


@dataclass
class StepResult:
    loss: float
    rec: float  # nats per sequence
    kl: float  # nats per sequence (true KL, before free bits)
    tokens: int
    sequences: int
    cycle_rec: float | None = None  # nats per sequence of the back-translation pass, when on


def condition_dropout(
    present: torch.Tensor, tags: torch.Tensor, p: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide each continuous condition (present -> 0) and each tag (-> 0, "unspecified") with
    probability p, so that the model learns to generate with conditions left out."""
    if p > 0:
        keep = torch.rand(present.shape, generator=generator) >= p
        present = present * keep.to(present.dtype)
        keep_t = torch.rand(tags.shape, generator=generator) >= p
        tags = tags * keep_t.to(tags.dtype)
    return present, tags


def word_dropout(inputs: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Replace each decoder input token other than <pad> and <bos> by <unk> with probability p."""
    if p <= 0:
        return inputs
    drop = torch.rand(inputs.shape, generator=generator) < p
    drop &= (inputs != PAD) & (inputs != BOS)
    return inputs.masked_fill(drop, UNK)


def beta_and_lr(t: TrainConfig, step: int, planned_steps: int | None) -> tuple[float, float]:
    """The KL weight and the learning rate of step `step` (0-based); planned_steps is the length of
    the LR schedule (None while a time budget is not yet converted into steps)."""
    beta = beta_at(step, t.kl_schedule, t.kl_max, t.kl_warmup_steps, t.kl_cycle_steps, t.kl_cycle_ratio)
    lr = lr_at(step, planned_steps, t.lr, t.min_lr, t.warmup_steps, t.lr_schedule)
    return beta, lr


def step_loss(
    rec: torch.Tensor, kl_dim: torch.Tensor, beta: float, free_bits: float, world: int, n_tokens: int
) -> torch.Tensor:
    """The per-token negative ELBO of the global batch (n_tokens tokens) from this process's share
    of it: rec (B,) and the true KL per dimension kl_dim (B, Z), free bits applied to the KL.
    Scaled by the process count `world`, since DistributedDataParallel averages the gradients."""
    kl_opt = free_bits_kl(kl_dim, free_bits)
    return (rec.sum() + beta * kl_opt.sum()) * (world / n_tokens)


def tag_adversary_loss(
    own: list[torch.Tensor], probe: list[torch.Tensor], tags: torch.Tensor
) -> torch.Tensor:
    """The tag adversary's terms, summed over rows and tags (nats): its cross-entropy on the rows'
    true tags (own logits; trains the adversary) minus the entropy of its prediction (probe
    logits; trains the encoder to leave it uncertain). tags (B, T): tag indices, 0 ("any") is
    not a label and the row is skipped for that tag."""
    total = tags.new_zeros((), dtype=torch.float32)
    for j, (lg, pr) in enumerate(zip(own, probe)):
        labelled = tags[:, j] != 0
        total = total + F.cross_entropy(lg.float(), tags[:, j], ignore_index=0, reduction="sum")
        logp = F.log_softmax(pr.float()[labelled, 1:], dim=-1)  # index 0 ("any") is no tag
        total = total + (logp.exp() * logp).sum()  # minus the entropy
    return total


def value_adversary_loss(
    own: torch.Tensor, probe: torch.Tensor, values: torch.Tensor, present: torch.Tensor
) -> torch.Tensor:
    """The value adversary's terms, summed over rows and conditions given to the model (present;
    a hidden condition is not hidden from z, which must then carry it): the squared error of its
    prediction (own, from z.detach(); trains the adversary) plus the squared distance of its
    prediction from the training mean (probe, from z; trains the encoder to leave the adversary
    nothing to go on). values, own, probe (B, P) standardised; present (B, P) 1 where given."""
    given = present.float()
    fit = ((own.float() - values.float()).pow(2) * given).sum()
    return fit + (probe.float().pow(2) * given).sum()


def other_tags(tags: torch.Tensor, tag_sizes: list[int], generator: torch.Generator) -> torch.Tensor:
    """For each row and tag, another value of that tag, uniformly among the tag's other values
    (tags (B, T): indices 1..n_j - 1, 0 = "any"); a row without a value for a tag (0) gets any
    value. A tag with a single value keeps it."""
    out = tags.clone()
    for j, n in enumerate(tag_sizes):
        values = n - 1  # index 0 is "any", not a value
        if values < 2:
            out[:, j] = torch.where(tags[:, j] == 0, torch.ones_like(tags[:, j]), tags[:, j])
            continue
        u = torch.rand(tags.shape[0], generator=generator)
        shift = 1 + (u * (values - 1)).long().clamp(max=values - 2)  # 1 .. values - 1
        other = (tags[:, j] - 1 + shift) % values + 1
        anyone = 1 + (u * values).long().clamp(max=values - 1)
        out[:, j] = torch.where(tags[:, j] == 0, anyone, other)
    return out


def back_translation_input(decoded: torch.Tensor, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decodes (B, L) ending in <eos> (or cut at the length limit), then <pad>, as encoder
    input: tokens (B, max_length + 2) <bos> x <eos> <pad>... with x cut to max_length tokens, and
    lengths (B,) incl. <eos> (an empty x is the single <eos>)."""
    b, width = decoded.shape
    device = decoded.device
    ended = (decoded == EOS) | (decoded == PAD)
    n = torch.where(ended.any(dim=1), ended.int().argmax(dim=1), torch.full((b,), width, device=device))
    n = n.clamp(max=max_length)
    content = torch.full((b, max_length), PAD, dtype=torch.long, device=device)
    k = min(width, max_length)
    content[:, :k] = decoded[:, :k]
    content = content.masked_fill(torch.arange(max_length, device=device)[None, :] >= n[:, None], PAD)
    tokens = torch.cat(
        [
            torch.full((b, 1), BOS, dtype=torch.long, device=device),
            content,
            torch.full((b, 1), PAD, dtype=torch.long, device=device),
        ],
        dim=1,
    )
    tokens[torch.arange(b, device=device), n + 1] = EOS
    return tokens, n + 1
