"""KL weight (beta) and learning-rate schedules as pure functions of the step."""

from __future__ import annotations

import math


def beta_at(
    step: int,
    schedule: str,
    kl_max: float = 1.0,
    warmup_steps: int = 2000,
    cycle_steps: int = 2000,
    cycle_ratio: float = 0.5,
) -> float:
    """KL weight at `step` (0-based).

    constant:  kl_max.
    linear:    kl_max * min(1, step / warmup_steps).
    logistic:  kl_max / (1 + exp(-k (step - x0))), x0 = warmup_steps / 2, k = 10 / warmup_steps
               (Bowman et al. 2016): ~0.0067 kl_max at step 0, kl_max / 2 at x0, ~0.993 kl_max at
               warmup_steps.
    cyclical:  Fu et al. 2019: within each period of cycle_steps, ramp linearly from 0 to kl_max
               over the first cycle_ratio of the period, then hold kl_max.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if schedule == "constant":
        return kl_max
    if schedule == "linear":
        return kl_max * min(1.0, step / warmup_steps) if warmup_steps > 0 else kl_max
    if schedule == "logistic":
        if warmup_steps <= 0:
            return kl_max
        k = 10.0 / warmup_steps
        return kl_max / (1.0 + math.exp(-k * (step - warmup_steps / 2)))
    if schedule == "cyclical":
        if cycle_steps <= 0 or cycle_ratio <= 0:
            return kl_max
        tau = (step % cycle_steps) / cycle_steps
        return kl_max * min(1.0, tau / cycle_ratio)
    raise ValueError(f"unknown KL schedule {schedule!r}; expected constant, linear, logistic or cyclical")


def lr_at(progress: float, step: int, lr: float, min_lr: float, warmup_steps: int, schedule: str) -> float:
    """Learning rate: linear warm-up over warmup_steps, then cosine from lr to min_lr.

    `progress` in [0, 1] is the fraction of training done (by steps or by the time budget).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    p = min(max(progress, 0.0), 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * p))
