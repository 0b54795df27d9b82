"""The requests of a generate run as targets: each request's conditions checked against the run's
(the -c conditions, or one per row of a request file, its errors naming the file and the row), its
goals, how many samples or hits it gets, the measured targets it is scored on and their
tolerances, and the warnings for targets outside the training range."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqcvae.data.goals import Goal, is_range, not_a_property
from seqcvae.data.requests import FLAG, RequestFile, merged
from seqcvae.errors import ConfigError, SeqCVAEError
from seqcvae.generation.generator import Generator
from seqcvae.generation.hits import request_goals

OUT_OF_RANGE_SHOWN = 3  # out-of-range warnings shown for a request file; the rest are counted


@dataclass(frozen=True)
class Target:
    """One request of a run: the request conditioned on, its goals, how many samples (or hits) it
    gets, and each measured continuous target with the tolerance it is scored within."""

    request: dict[str, Any]
    goals: list[Goal]
    count: int
    scored: dict[str, tuple[float, float]]  # name -> (target, tolerance)
    where: str = ""  # in the request file ("" without one)
    ranges: tuple[str, ...] = ()  # the conditions given as LOW:HIGH


def check_goals(gen: Generator, goals: list[Goal], hits: int | None, tolerance: Mapping[str, float]) -> None:
    """Tolerances belong to hits, and a hit's goals must be measurable."""
    if hits is None and tolerance:
        raise ConfigError("--tolerance sets which measured molecules are hits: add --hits N")
    blind = [g.name for g in goals if g.name not in gen.measured_properties()]
    if hits is not None and blind:
        raise ConfigError(
            f"--hits: {blind[0]} cannot be measured with RDKit, so its hits cannot be verified; "
            f"drop -c {blind[0]} or --hits"
        )


def scored(
    gen: Generator, given: Mapping[str, Any], goals: list[Goal], tolerance: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """The measured continuous targets of a request, each with the tolerance its hit rate is
    scored within: the given one or 5% of the training range; for a range, its half-width around
    its midpoint."""
    if gen.kind != "smiles":
        return {}
    measured = set(gen.measured_properties())
    cont = {c.name: c for c in gen.conditions.continuous}
    out: dict[str, tuple[float, float]] = {}
    for g in goals:
        if g.name not in measured:
            continue
        if is_range(given[g.name]):
            out[g.name] = (g.condition, (g.high - g.low) / 2)
        else:
            out[g.name] = (g.condition, tolerance.get(g.name, cont[g.name].default_tolerance()))
    return out


def build_targets(
    gen: Generator,
    given: Mapping[str, Any],
    file: RequestFile | None,
    tolerance: Mapping[str, float],
    hits: int | None,
    count: int,
) -> list[Target]:
    """The request of `given` (the -c conditions), or with a request file one per row: its
    conditions over the -c ones, checked as -c values are (errors name the file and the row)."""
    measurable = gen.measured_properties()
    if file is None:
        request, goals = request_goals(gen.conditions, given, tolerance, measurable)
        check_goals(gen, goals, hits, tolerance)
        return [Target(request, goals, count, scored(gen, given, goals, tolerance))]
    file.check_columns(gen.conditions.names)
    request_goals(gen.conditions, given, {}, measurable)  # a bad -c value is an error about -c
    check_goals(gen, [], hits, tolerance)
    rows = [merged(given, row) for row in file.rows]
    cont = [c.name for c in gen.conditions.continuous]
    for name, tol in tolerance.items():
        if name not in cont:
            raise ConfigError(f"--tolerance {name}={tol:g}: {not_a_property(name, cont)}")
        if not any(name in r for r in rows):
            raise ConfigError(
                f"--tolerance {name}={tol:g}: no request sets {name}; add a {name} column to {FLAG} "
                f"or -c {name}=VALUE"
            )
    targets = []
    for row, req in zip(file.rows, rows):
        own = {k: v for k, v in tolerance.items() if k in req}
        try:
            request, goals = request_goals(gen.conditions, req, own, measurable)
            check_goals(gen, goals, hits, own)
        except SeqCVAEError as exc:
            raise type(exc)(file.error(row, exc)) from None
        n = count if row.n is None else row.n
        ranges = tuple(k for k, v in req.items() if is_range(v))
        targets.append(Target(request, goals, n, scored(gen, req, goals, own), row.where, ranges))
    return targets


def warn_out_of_range(
    gen: Generator, targets: Sequence[Target], warn: Callable[[str], None], flag: str = FLAG
) -> None:
    """The targets outside the training range; of a request file (or -c lists), the first few and a
    count."""
    if len(targets) == 1 and not targets[0].where:
        for warning in gen.conditions.out_of_range(targets[0].request):
            warn(warning)
        return
    prefix = f"{FLAG} " if flag == FLAG else ""
    warnings = [f"{prefix}{t.where}: {w}" for t in targets for w in gen.conditions.out_of_range(t.request)]
    for warning in warnings[:OUT_OF_RANGE_SHOWN]:
        warn(warning)
    if len(warnings) > OUT_OF_RANGE_SHOWN:
        warn(f"{flag}: {len(warnings) - OUT_OF_RANGE_SHOWN} more targets are outside the training range")
