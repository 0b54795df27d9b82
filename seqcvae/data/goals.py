"""Property goals: a target value within a tolerance, or a range LOW:HIGH (conditioned at its
midpoint). One parser for the goals of `seqcvae optimize` (latent.goals), the verified hits of
`seqcvae generate --hits` (generation.hits) and the tolerances of sweeps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seqcvae.data.conditions import ContinuousCondition
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

    def met(self, value: float | None) -> bool:
        """The measured value lies inside the goal's interval (never for a missing value)."""
        return value is not None and self.low <= value <= self.high


def parse_goal_value(name: str, text: str, what: str = "goal") -> tuple[float, float | None]:
    """ "3.2" -> (3.2, None); "250:350" -> (250, 350) (a range); errors name `what` (the option)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) not in (1, 2) or len(values) != len(parts) or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{what} {name}={text!r}: expected a number (3.2) or a range LOW:HIGH (250:350)")
    if len(values) == 2 and values[0] > values[1]:
        raise ConfigError(f"{what} {name}={text!r}: the range's low end is above its high end")
    return values[0], values[1] if len(values) == 2 else None


def is_range(value: Any) -> bool:
    """A condition value typed as LOW:HIGH (the parsers leave it as text)."""
    return isinstance(value, str) and ":" in value


def check_tolerances(tolerance: Mapping[str, Any], what: str = "tolerance") -> None:
    """Every tolerance is a positive finite number; the error names the first that is not."""
    for name, tol in tolerance.items():
        number = isinstance(tol, (int, float)) and not isinstance(tol, bool)
        if not (number and tol > 0 and math.isfinite(tol)):
            raise ConfigError(f"{what} {name}={tol!r}: expected a positive number")


def target_goal(
    condition: ContinuousCondition, text: str, tolerance: float | None = None, what: str = "goal"
) -> Goal:
    """The goal of a target typed as text: "3.2" within `tolerance` (default: the condition's
    default_tolerance, 5% of its training range), or a range "250:350" decoded under its midpoint
    (a range sets its own bounds, so a tolerance for it is refused)."""
    name = condition.name
    low, high = parse_goal_value(name, text, what)
    if high is None:
        return Goal.near(name, low, condition.default_tolerance() if tolerance is None else tolerance)
    if tolerance is not None:
        raise ConfigError(
            f"tolerance {name}={tolerance:g} for the range {name}={text}: a range sets its own bounds; "
            "give a value with a tolerance or a range"
        )
    return Goal(name, (low + high) / 2, low, high)


def not_a_property(name: str, known: list[str]) -> ConfigError:
    """The error for a goal or tolerance on a name that is not one of the model's properties."""
    return ConfigError(
        f"{name!r} is not a property this model is conditioned on; known: {', '.join(known) or '(none)'}"
    )
