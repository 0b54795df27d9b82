"""Property-consistency tuning: fine-tune a trained SMILES model so that its own samples land on
the properties they were asked for, with RDKit as the judge.

Maximum likelihood teaches p(x | c) only on real (x, c) pairs; nothing in it measures whether a
*sampled* molecule has the property it was conditioned on. Here the model samples molecules
under targets drawn from real molecules' properties, RDKit measures them, and a policy gradient
(REINFORCE with a leave-one-out baseline over the samples of each target, Kool et al. 2019)
raises the probability of samples that land close and lowers that of invalid ones. A KL penalty
to the starting model (the reward minus kl_weight * log p/p_ref per sequence, as in REINVENT and
KL-regularised policy optimisation) keeps the distribution, and so uniqueness and novelty, near
the model's. Tuning still concentrates p(x | c) on its best hits, so that a molecule may take
enough mass to repeat among thousands of samples for one target: the optional peak penalty
(peak_nats) charges a sample for the nats by which its log-probability exceeds -peak_nats.
Targets leave every property unspecified with some probability, so unconditional samples are
rewarded for validity alone.

The reward of a valid sample is minus the mean absolute error over its given properties, each
in units of that property's training standard deviation; an invalid or unfinished sample gets
`invalid_reward`. Only the decoder and the condition embedder learn (the decoder alone with
decoder_only); the shared token embedding and the encoder's weights stay as they were. The
condition embedding also feeds the encoder (and a conditional prior), so q(z | x, c) moves a
little with it: the likelihood anchor (anchor_weight) keeps the decoder reconstructing what the
encoder now writes. Samples are drawn at T = 1 without guidance, whatever the checkpoint's
sampling settings.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from seqcvae.chem.properties import PROPERTY_FUNCTIONS, analyse_smiles
from seqcvae.config import SamplingSettings
from seqcvae.data.conditions import ConditionSpace
from seqcvae.data.dataset import TokenDataset
from seqcvae.errors import ConfigError
from seqcvae.generation.sampling import decode_tokens
from seqcvae.models.cvae import CVAE
from seqcvae.tokenizers.base import BOS, EOS, NEVER_SAMPLED, PAD, Tokenizer
from seqcvae.training.build import adam
from seqcvae.tuning.settings import TuneSettings


@dataclass
class StepStats:
    step: int
    reward: float
    validity: float
    kl: float  # mean log p(x)/p_ref(x) of the samples: an estimate of KL(p || p_ref) in nats
    unique: float  # distinct valid molecules / valid samples in the step's batch
    peaked: float = 0.0  # fraction of samples above the peak penalty's log-probability (when on)
    anchor_nll: float | None = None  # the anchor molecules' mean NLL in nats (when anchored)
    errors: dict[str, float] = field(default_factory=dict)  # mean |measured - target| per property
    elapsed_s: float = 0.0

    def as_row(self) -> dict[str, float]:
        row = {
            "step": float(self.step),
            "reward": self.reward,
            "validity": self.validity,
            "kl": self.kl,
            "unique": self.unique,
            "peaked": self.peaked,
            "elapsed_s": self.elapsed_s,
        }
        if self.anchor_nll is not None:
            row["anchor_nll"] = self.anchor_nll
        row.update({f"mae_{k}": v for k, v in self.errors.items()})
        return row


def tunable_parameters(model: CVAE, decoder_only: bool = False) -> list[torch.nn.Parameter]:
    """What tuning trains: the decoder and, unless decoder_only, the condition embedder (see the
    module)."""
    if decoder_only:
        return list(model.decoder.parameters())
    return [*model.decoder.parameters(), *model.condition.parameters()]


def check_tunable(conditions: ConditionSpace, kind: str) -> None:
    """Tuning needs a SMILES model whose every continuous condition RDKit can measure."""
    if kind != "smiles":
        raise ConfigError(f"property-consistency tuning needs a SMILES model; this one is a {kind} model")
    if not conditions.continuous:
        raise ConfigError(
            "property-consistency tuning needs a model with continuous conditions; this one has none"
        )
    unknown = [c.name for c in conditions.continuous if c.name not in PROPERTY_FUNCTIONS]
    if unknown:
        raise ConfigError(
            f"property-consistency tuning measures every condition with RDKit; {', '.join(unknown)} "
            f"is not an RDKit property ({', '.join(PROPERTY_FUNCTIONS)})"
        )


def sequence_log_probs(model: CVAE, ids: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """log p(x | z, c) per row of sampled ids (B, L) (tokens after <bos>, <pad> after <eos>), under
    the distribution sampling draws from: the control tokens it never samples are masked out."""
    bos = torch.full((ids.shape[0], 1), BOS, dtype=ids.dtype, device=ids.device)
    logits = model.decode(torch.cat([bos, ids[:, :-1]], dim=1), z, c)
    logits = logits.index_fill(-1, torch.tensor(NEVER_SAMPLED, device=logits.device), float("-inf"))
    token_lp = -F.cross_entropy(logits.transpose(1, 2), ids, reduction="none", ignore_index=PAD)
    return token_lp.sum(dim=1)


def peak_penalty(log_probs: torch.Tensor, nats: float, weight: float) -> torch.Tensor:
    """weight per nat by which each sequence's log-probability exceeds -nats (0 below it; all
    zeros when nats is 0, the penalty off)."""
    if nats <= 0:
        return torch.zeros_like(log_probs)
    return weight * (log_probs + nats).clamp(min=0)


def leave_one_out(rewards: torch.Tensor, group: int) -> torch.Tensor:
    """Advantages: each reward minus the mean of the other rewards of its group (rows are groups
    of `group` consecutive samples of one target)."""
    r = rewards.view(-1, group)
    return (r - (r.sum(dim=1, keepdim=True) - r) / (group - 1)).reshape(-1)


class ConsistencyTuner:
    """Tune `model` in place; `reference` is a frozen copy of the starting model.

    `targets` (N, P): raw property values of real molecules, columns in the order of
    conditions.continuous; each step draws conditions_per_step rows of it. `anchor`: real
    molecules (token ids with their standardised properties) for settings.anchor_weight > 0.
    """

    def __init__(
        self,
        model: CVAE,
        tokenizer: Tokenizer,
        conditions: ConditionSpace,
        targets: np.ndarray,
        settings: TuneSettings,
        anchor: TokenDataset | None = None,
    ):
        settings.validate()
        if settings.anchor_weight > 0 and (anchor is None or len(anchor) == 0):
            raise ConfigError("tuning with anchor_weight > 0 needs anchor molecules")
        self.anchor = anchor if settings.anchor_weight > 0 else None
        if targets.ndim != 2 or targets.shape[1] != conditions.num_continuous or len(targets) == 0:
            raise ConfigError(
                f"tuning targets have shape {targets.shape}; "
                f"expected (rows >= 1, {conditions.num_continuous})"
            )
        self.model = model
        self.reference = copy.deepcopy(model).eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.conditions = conditions
        self.names = [c.name for c in conditions.continuous]
        self.stds = np.array([c.std for c in conditions.continuous])
        self.targets = np.asarray(targets, dtype=np.float64)
        # per property: the target rows in its order, its sorted values, its 1st-99th percentiles
        self.order = np.argsort(self.targets, axis=0, kind="stable")
        self.sorted = np.take_along_axis(self.targets, self.order, axis=0)
        self.spans = np.quantile(self.targets, [0.01, 0.99], axis=0)
        self.s = settings
        self.params = tunable_parameters(model, settings.decoder_only)
        if settings.decoder_only:
            for p in model.condition.parameters():
                p.requires_grad_(False)
        self.optimizer = adam(self.params, decoupled=False, lr=settings.lr)
        self.rng = np.random.default_rng(settings.seed)
        self.sampling = SamplingSettings(strategy="sample", temperature=1.0, top_k=0, top_p=1.0)
        self.sampling.max_length = settings.max_length
        self.step_count = 0
        self.device = next(model.parameters()).device
        self.noise = torch.Generator(device=self.device).manual_seed(settings.seed)

    def draw_present(self, n: int, p: int) -> np.ndarray:
        """present (n, P): each property given with property_probability (at least one), every
        one hidden in unconditional_fraction of rows."""
        present = self.rng.random((n, p)) < self.s.property_probability
        empty = ~present.any(axis=1)
        present[empty, self.rng.integers(0, p, int(empty.sum()))] = True
        present[self.rng.random(n) < self.s.unconditional_fraction] = False
        return present.astype(np.float32)

    def draw_conditions(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(raw targets (n, P), present (n, P)): rows of `targets`, properties given as
        `draw_present` decides; a share even_fraction of them drawn by `draw_even`."""
        index = self.rng.integers(0, len(self.targets), n)
        present = self.draw_present(n, self.targets.shape[1])
        if self.s.even_fraction > 0:
            even = np.flatnonzero(self.rng.random(n) < self.s.even_fraction)
            prop = self.rng.integers(0, self.targets.shape[1], len(even))
            index[even] = self.draw_even(prop)
            given = present[even].any(axis=1)  # unconditional rows stay unconditional
            present[even[given], prop[given]] = 1.0
        return self.targets[index], present

    def draw_even(self, prop: np.ndarray) -> np.ndarray:
        """For each property index in prop, a target row whose value of it is nearest to a value
        drawn uniformly between that property's 1st and 99th percentiles."""
        lo, hi = self.spans[0, prop], self.spans[1, prop]
        value = lo + (hi - lo) * self.rng.random(len(prop))
        last = len(self.targets) - 1
        at = np.array([np.searchsorted(self.sorted[:, j], v) for j, v in zip(prop, value)], dtype=np.int64)
        at = np.clip(at, 0, last)
        below = np.clip(at - 1, 0, last)
        nearer_below = np.abs(self.sorted[below, prop] - value) < np.abs(self.sorted[at, prop] - value)
        at = np.where(nearer_below, below, at)
        return self.order[at, prop]

    def kl_weights(self, present: np.ndarray) -> torch.Tensor:
        """(B,) the KL penalty of each sample: kl_weight, or unconditional_kl_weight (when set) for
        the samples with every property unspecified."""
        weights = np.full(len(present), self.s.kl_weight, dtype=np.float32)
        if self.s.unconditional_kl_weight is not None:
            weights[~present.any(axis=1)] = self.s.unconditional_kl_weight
        return torch.from_numpy(weights)

    def anchor_nll(self) -> torch.Tensor:
        """Mean NLL (nats) of anchor_batch anchor molecules decoded from z ~ q(z | x, c) (the
        encoder without gradient) under their own properties, some hidden (`draw_present`)."""
        assert self.anchor is not None
        b = self.anchor.collate(self.rng.integers(0, len(self.anchor), self.s.anchor_batch)).to(self.device)
        present = torch.from_numpy(self.draw_present(b.size, b.cond_values.shape[1])).to(self.device)
        c = self.model.embed_conditions(b.cond_values * present, present, b.cond_tags)
        with torch.no_grad():
            mu, logvar = self.model.encode(b.tokens, b.lengths, c.detach())
            eps = torch.randn(mu.shape, generator=self.noise, device=self.device)
            z = self.model.reparameterise(mu, logvar, eps)
        return self.model.decode_nll(b.tokens[:, :-1], z, c, b.tokens[:, 1:]).sum(dim=1).mean()

    def rewards(
        self, smiles: Sequence[str], finished: np.ndarray, raw: np.ndarray, present: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
        """(reward (B,), valid (B,), |error| in property units (B, P) (nan where not given or
        invalid), canonical SMILES or None) for B sampled strings and their targets."""
        b = len(smiles)
        reward = np.full(b, self.s.invalid_reward)
        valid = np.zeros(b, dtype=bool)
        err = np.full((b, len(self.names)), np.nan)
        canon: list[str | None] = [None] * b
        for i, text in enumerate(smiles):
            if not finished[i]:
                continue
            can, props = analyse_smiles(text, self.names)
            if can is None:
                continue
            valid[i], canon[i] = True, can
            given = present[i] > 0
            measured = np.array([props[n] for n in self.names])
            err[i, given] = np.abs(measured - raw[i])[given]
            reward[i] = -float(np.mean(err[i, given] / self.stds[given])) if given.any() else 0.0
        return reward, valid, err, canon

    def step(self) -> StepStats:
        s, k = self.s, self.s.samples_per_condition
        raw, present = self.draw_conditions(s.conditions_per_step)
        raw, present = np.repeat(raw, k, axis=0), np.repeat(present, k, axis=0)
        standardised = [cond.standardise(raw[:, j]) for j, cond in enumerate(self.conditions.continuous)]
        values = (np.stack(standardised, axis=1) * present).astype(np.float32)
        tags = np.zeros((len(raw), len(self.conditions.categorical)), dtype=np.int64)
        tensors = [torch.from_numpy(a).to(self.device) for a in (values, present, tags)]
        eps = torch.randn(len(raw), self.model.shape.latent_dim, generator=self.noise, device=self.device)
        # decode_tokens puts the model in eval mode: no dropout, so the gradient below is on-policy
        c = self.model.embed_conditions(*tensors)  # with gradient, for the log-probs below
        with torch.no_grad():
            z = self.model.prior_from_noise(c, eps)  # the prior generation draws from (p(z|c) or N(0, I))
            ids = decode_tokens(
                self.model, z, c.detach(), self.sampling, seed=int(self.rng.integers(0, 2**62))
            )
        finished = (ids == EOS).any(dim=1).cpu().numpy()
        smiles = [self.tokenizer.decode(row) for row in ids.cpu().tolist()]
        reward, valid, err, canon = self.rewards(smiles, finished, raw, present)
        with torch.no_grad():
            ref_lp = sequence_log_probs(self.reference, ids, z, self.reference.embed_conditions(*tensors))
        lp = sequence_log_probs(self.model, ids, z, c)
        log_ratio = (lp.detach() - ref_lp).cpu()
        peak = peak_penalty(lp.detach().cpu(), s.peak_nats, s.peak_weight)
        total = torch.from_numpy(reward).float() - self.kl_weights(present) * log_ratio - peak
        advantage = leave_one_out(total, k).to(self.device)
        loss = -(advantage * lp).mean()
        anchor = self.anchor_nll() if self.anchor is not None else None
        if anchor is not None:
            loss = loss + s.anchor_weight * anchor
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, s.grad_clip)
        self.optimizer.step()
        self.step_count += 1
        distinct = {x for x in canon if x is not None}
        errors = {
            n: float(np.nanmean(err[:, j])) for j, n in enumerate(self.names) if np.isfinite(err[:, j]).any()
        }
        return StepStats(
            step=self.step_count,
            reward=float(reward.mean()),
            validity=float(valid.mean()),
            kl=float(log_ratio.mean()),
            unique=len(distinct) / max(1, int(valid.sum())),
            peaked=float((peak > 0).float().mean()),
            errors=errors,
            anchor_nll=float(anchor.detach()) if anchor is not None else None,
        )

    def run(self, on_step: Callable[[StepStats], None] | None = None) -> StepStats | None:
        """Up to settings.steps steps (or max_minutes), calling on_step after each."""
        start = time.monotonic()
        last = None
        while self.step_count < self.s.steps:
            last = self.step()
            last.elapsed_s = time.monotonic() - start
            if on_step is not None:
                on_step(last)
            if self.s.max_minutes and last.elapsed_s >= 60 * self.s.max_minutes:
                break
        return last
