"""Property goals of an edit: a value with a tolerance, a range, or a shift from the seed's value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from seqcvae.data.conditions import ConditionSpace
from seqcvae.errors import ConfigError


@dataclass(frozen=True)
class Goal:
    """A property goal: met when low <= value <= high; `condition` is the value decoded under."""

    name: str
    condition: float
    low: float
    high: float

    @classmethod
    def near(cls, name: str, value: float, tolerance: float) -> Goal:
        return cls(name, value, value - tolerance, value + tolerance)

    def error(self, value: float) -> float:
        """Distance from the goal's interval (0 inside it)."""
        return max(self.low - value, 0.0, value - self.high)


def parse_goal_value(name: str, text: str) -> tuple[float, float | None]:
    """ "3.2" -> (3.2, None); "250:350" -> (250, 350) (a range); errors name the option."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) not in (1, 2) or len(values) != len(parts) or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"goal {name}={text!r}: expected a number (3.2) or a range LOW:HIGH (250:350)")
    if len(values) == 2 and values[0] > values[1]:
        raise ConfigError(f"goal {name}={text!r}: the range's low end is above its high end")
    return values[0], values[1] if len(values) == 2 else None


def make_goals(
    space: ConditionSpace,
    seed_properties: Mapping[str, float],
    targets: Mapping[str, str],
    shifts: Mapping[str, float],
    tolerance: Mapping[str, float],
) -> list[Goal]:
    """Goals for one seed: `targets` NAME -> "VALUE" or "LOW:HIGH", `shifts` NAME -> delta from the
    seed's own value; each within `tolerance` (default 5% of the property's training range)."""
    cont = {c.name: c for c in space.continuous}
    for name in [*targets, *shifts, *tolerance]:
        if name not in cont:
            raise ConfigError(
                f"{name!r} is not a property this model is conditioned on; "
                f"known: {', '.join(cont) or '(none)'}"
            )
        if name not in seed_properties:
            raise ConfigError(f"{name!r} cannot be measured with RDKit, so an edit cannot be scored on it")
    both = sorted(set(targets) & set(shifts))
    if both:
        raise ConfigError(f"{both[0]!r} has both a target and a shift; give one")
    for name, tol in tolerance.items():
        if not (tol > 0 and math.isfinite(tol)):
            raise ConfigError(f"tolerance {name}={tol!r}: expected a positive number")
    goals = []
    for name in [*targets, *shifts]:
        c = cont[name]
        tol = tolerance.get(name, c.default_tolerance())
        if name in shifts:
            goals.append(Goal.near(name, seed_properties[name] + shifts[name], tol))
            continue
        low, high = parse_goal_value(name, targets[name])
        if high is None:
            goals.append(Goal.near(name, low, tol))
        else:
            goals.append(Goal(name, (low + high) / 2, low, high))
    if not goals:
        raise ConfigError("give at least one goal: -c NAME=VALUE, -c NAME=LOW:HIGH or --shift NAME=DELTA")
    return goals
