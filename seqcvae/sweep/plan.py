"""Check a sweep spec against the model and plan its targets, before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqcvae.errors import ConfigError
from seqcvae.generation.generator import Generator
from seqcvae.io.records import SampleSchema
from seqcvae.sweep.spec import SweepSpec


@dataclass
class SweepPlan:
    spec: SweepSpec
    requests: list[dict[str, Any]]
    continuous: list[str]  # swept continuous conditions that RDKit measures (compared with the targets)
    tags: list[str]  # swept categorical conditions
    measured: list[str]  # properties RDKit measures for every sample
    tolerance: dict[str, float]
    kind: str  # the model's data kind: "smiles" (samples checked with RDKit) or "text"

    @property
    def smiles(self) -> bool:
        return self.kind == "smiles"

    def schema(self) -> SampleSchema:
        """The columns of the sweep's sample files (io.records): target_index first, then the
        samples as generate writes them, with every requested condition (swept, then fixed)."""
        targets = [*self.spec.targets, *self.spec.fixed]
        return SampleSchema.for_run(self.kind, self.measured, targets, target_index=True)


def _check_values(gen: Generator, spec: SweepSpec) -> None:
    """Numbers for continuous conditions, known tags for categorical ones."""
    space = gen.conditions
    space.check_names(set(spec.targets) | set(spec.fixed))
    cont = {c.name for c in space.continuous}
    cats = {c.name: c for c in space.categorical}
    for name, values in spec.targets.items():
        for v in values:
            if name in cont and isinstance(v, str):
                raise ConfigError(
                    f"target {name}={v!r}: {name} is a number; give a value, V1,V2,... or START:STOP:STEPS"
                )
            if name in cats:
                cats[name].index(v)  # unknown tags fail, naming the known ones


def _tolerances(gen: Generator, spec: SweepSpec, scored: list[str]) -> dict[str, float]:
    """The given tolerances, else 5% of each scored property's training range."""
    cont = {c.name: c for c in gen.conditions.continuous}
    for name in spec.tolerance:
        if name in scored:
            continue
        if name in spec.targets and name in cont:
            raise ConfigError(
                f"tolerance for {name!r}: {name} cannot be measured on generated samples, so no "
                "hit rate is scored for it"
            )
        raise ConfigError(f"tolerance for {name!r}, which is not a swept property")
    return {n: float(spec.tolerance.get(n, cont[n].default_tolerance())) for n in scored}


def plan_sweep(gen: Generator, spec: SweepSpec) -> SweepPlan:
    """Check the spec against the model's conditions; fill default tolerances."""
    spec.validate()
    _check_values(gen, spec)
    space = gen.conditions
    cats = {c.name for c in space.categorical}
    measured = gen.measured_properties() if gen.kind == "smiles" else []
    continuous = [n for n in spec.targets if n in measured]
    tolerance = _tolerances(gen, spec, continuous)
    requests = spec.grid()
    for i, r in enumerate(requests):
        known = space.canonical_request(r)  # bad fixed values fail here, before anything is written
        requests[i] = {k: known[k] if k in cats else v for k, v in r.items()}  # stars=5.0 -> "5"
    gen.default_settings(**spec.sample)  # unknown / bad sampling settings fail before any work
    return SweepPlan(
        spec, requests, continuous, [n for n in spec.targets if n in cats], measured, tolerance, gen.kind
    )
