"""The run's budget: how many steps train.epochs and train.max_steps allow, the conversion of a time
budget (train.max_minutes) into a step count, and when the run is out of budget.

A time budget is converted into a step count once, from the times of the first CALIBRATION_STEPS
steps (or of the steps before the first checkpoint, if that comes sooner); the count is stored in
every checkpoint, so a resume keeps the schedule. The wall clock still stops a run whose steps
become slower than measured.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from seqcvae.config import TrainConfig
from seqcvae.training.annealing import SchedulePlan, steps_for_budget

# A time budget is converted into a step count after this many steps (or at the first checkpoint).
CALIBRATION_STEPS = 20


def step_bound(t: TrainConfig, batches_per_epoch: int) -> int:
    """The most steps train.epochs and train.max_steps allow (every epoch has the same batches)."""
    bound = t.epochs * batches_per_epoch
    return min(bound, t.max_steps) if t.max_steps > 0 else bound


class Budget:
    """The step count of a run (its SchedulePlan, once known) against the budget of this process's
    config, which after a --resume may differ from the one the plan was made for."""

    def __init__(self, t: TrainConfig, log: Callable[[str], None]):
        self.train = t
        self.log = log
        self.plan: SchedulePlan | None = None  # the run's step count, once known
        self.step_times: list[float] = []  # this process's step times until the plan is made

    def make_plan(self, step: int, elapsed: float, bound: int) -> None:
        """Fix the step count once: the step bound, or for a time budget what the measured step
        times allow (at most the step bound). Every process computes the same count (the step
        times are the maximum over processes)."""
        t = self.train
        if self.plan is not None:
            return
        seconds = None
        steps = bound
        if t.max_minutes > 0:
            times = self.step_times
            steps = min(bound, steps_for_budget(step, elapsed, 60 * t.max_minutes, times))
            seconds = statistics.median(times) if times else elapsed / max(1, step)
            self.log(
                f"time budget {t.max_minutes:g} min: {steps} steps at {1000 * seconds:.0f} ms a step "
                f"(measured over {len(times) or step} steps); the LR schedule ends there"
            )
        self.plan = SchedulePlan(steps, t.epochs, t.max_steps, t.max_minutes, seconds)
        self.step_times = []

    def start(self, step: int, elapsed: float, bound: int) -> None:
        """At the start of fit: a step budget is planned at once; a plan made for another budget
        (a --resume with a new one) keeps its schedule, and the new budget decides the end."""
        t = self.train
        if self.plan is None and t.max_minutes <= 0:
            self.make_plan(step, elapsed, bound)
        elif self.plan is not None and not self.plan.same_budget(t.epochs, t.max_steps, t.max_minutes):
            self.log(
                f"the budget differs from the one the run was planned for: the LR schedule keeps its "
                f"{self.plan.steps} steps (after them the LR stays at train.min_lr) and the new budget "
                "decides where the run stops"
            )

    def record(self, seconds: float, step: int, elapsed: float, bound: int) -> None:
        """A step of `seconds` ended, the run is at `step` after `elapsed` seconds: until the plan
        is made, measure, and plan after CALIBRATION_STEPS steps."""
        if self.plan is None:
            self.step_times.append(seconds)
            if step >= CALIBRATION_STEPS:
                self.make_plan(step, elapsed, bound)

    @property
    def schedule_steps(self) -> int | None:
        """The length of the LR schedule (None while a time budget is being measured)."""
        return self.plan.steps if self.plan else None

    def planned_steps(self) -> int | None:
        """The plan's step count while the budget is the one it was planned for: the end of the
        run. After a --resume with another budget, that budget alone decides (the schedule stays)."""
        t = self.train
        p = self.plan
        return p.steps if p is not None and p.same_budget(t.epochs, t.max_steps, t.max_minutes) else None

    def expected_steps(self, bound: int) -> int | None:
        """For the progress bar: the planned step count; None (unknown) while a time budget is
        still being measured, rather than the epochs' bound that the clock will cut short."""
        planned = self.planned_steps()
        if planned is not None:
            return planned
        return None if self.train.max_minutes > 0 and self.plan is None else bound

    def exhausted(self, step: int, elapsed: float) -> bool:
        t = self.train
        planned = self.planned_steps()
        return (
            (t.max_steps > 0 and step >= t.max_steps)
            or (t.max_minutes > 0 and elapsed >= 60 * t.max_minutes)
            or (planned is not None and step >= planned)
        )
