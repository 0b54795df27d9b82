"""KL weight (beta) and learning-rate schedules as pure functions of the step."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


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


def lr_at(
    step: int, total_steps: int | None, lr: float, min_lr: float, warmup_steps: int, schedule: str
) -> float:
    """Learning rate at `step` (0-based): linear warm-up over warmup_steps, then (cosine) from lr
    at step 0 to min_lr at `total_steps`, held at min_lr after it.

    A pure function of the step and the run's planned step count: how long the steps took plays no
    part. total_steps None means not planned yet (a time budget during its first steps): lr.
    A min_lr above lr (lr lowered alone, under the default min_lr) is taken as lr: the schedule
    never raises the learning rate above train.lr.
    """
    min_lr = min(min_lr, lr)
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant" or total_steps is None:
        return lr
    p = min(step / max(1, total_steps), 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * p))


def steps_for_budget(step: int, elapsed_s: float, budget_s: float, step_seconds: Sequence[float]) -> int:
    """The step count a time budget allows: `step` steps done in elapsed_s, the rest of budget_s
    at the median of the measured step_seconds (the first steps are often slow), or at the run's
    mean when none were measured. Never fewer than `step`."""
    per_step = statistics.median(step_seconds) if step_seconds else elapsed_s / max(1, step)
    return step + max(0, int((budget_s - elapsed_s) / max(per_step, 1e-9) + 1e-9))


@dataclass(frozen=True)
class SchedulePlan:
    """A run's step count, fixed once: the length of the LR schedule and the planned end of the run.

    A step budget (train.max_steps, train.epochs) gives it at the start; a time budget
    (train.max_minutes) is converted into steps from the times of the first steps. Checkpoints
    store it with the budget it was planned for, so a resume follows the same schedule.
    """

    steps: int
    epochs: int
    max_steps: int
    max_minutes: float
    step_seconds: float | None = None  # time budgets: the measured time of a step

    def same_budget(self, epochs: int, max_steps: int, max_minutes: float) -> bool:
        return (self.epochs, self.max_steps, self.max_minutes) == (epochs, max_steps, max_minutes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SchedulePlan:
        return cls(**data)
