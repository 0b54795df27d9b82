"""The goals of an edit: a value with a tolerance, a range (data.goals), or a shift from the seed's
value."""

from __future__ import annotations

from collections.abc import Mapping

from seqcvae.data.conditions import ConditionSpace
from seqcvae.data.goals import Goal, check_tolerances, not_a_property, target_goal
from seqcvae.errors import ConfigError

__all__ = ["Goal", "make_goals"]


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
            raise not_a_property(name, list(cont))
        if name not in seed_properties:
            raise ConfigError(f"{name!r} cannot be measured with RDKit, so an edit cannot be scored on it")
    both = sorted(set(targets) & set(shifts))
    if both:
        raise ConfigError(f"{both[0]!r} has both a target and a shift; give one")
    check_tolerances(tolerance)
    goals = []
    for name in [*targets, *shifts]:
        c = cont[name]
        if name in shifts:
            tol = tolerance.get(name, c.default_tolerance())
            goals.append(Goal.near(name, seed_properties[name] + shifts[name], tol))
        else:
            goals.append(target_goal(c, targets[name], tolerance.get(name)))
    if not goals:
        raise ConfigError("give at least one goal: -c NAME=VALUE, -c NAME=LOW:HIGH or --shift NAME=DELTA")
    return goals
