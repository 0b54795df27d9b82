"""Selecting generated records: the filters of `seqcvae generate` (valid, unique, novel) and
verified hits, molecules whose RDKit measurements meet every goal, drawn batch by batch until N
are found or a budget of samples is spent.

Records are examined in row order and the search stops at the N-th hit, so the same seed gives the
same hits in the same order whatever the batch size or the number of checking workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from typing import Any

from seqcvae.config import SamplingSettings
from seqcvae.data.conditions import ConditionSpace
from seqcvae.data.goals import Goal, check_tolerances, is_range, not_a_property, target_goal
from seqcvae.errors import ConfigError
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record


def request_goals(
    space: ConditionSpace,
    given: Mapping[str, Any],
    tolerance: Mapping[str, float],
    measurable: Collection[str],
) -> tuple[dict[str, Any], list[Goal]]:
    """The request to condition on (canonical_request) and a goal per continuous target: VALUE
    within its tolerance (default: 5% of the training range) or a range LOW:HIGH, conditioned at
    its midpoint. A tolerance must name a measurable property that has a value target."""
    space.check_names(given)
    cont = {c.name: c for c in space.continuous}
    for name, tol in tolerance.items():
        if name not in cont:
            raise ConfigError(f"--tolerance {name}={tol:g}: {not_a_property(name, list(cont))}")
        if name not in given:
            raise ConfigError(f"--tolerance {name}={tol:g}: {name} has no target; add -c {name}=VALUE")
        if name not in measurable:
            raise ConfigError(f"--tolerance {name}={tol:g}: {name} cannot be measured with RDKit")
    check_tolerances(tolerance, "--tolerance")
    request = dict(given)
    goals = []
    for name, value in given.items():
        if name in cont and (is_range(value) or name in measurable):
            goal = target_goal(cont[name], str(value), tolerance.get(name), what="condition")
            request[name] = goal.condition
            goals.append(goal)
    return space.canonical_request(request), goals


@dataclass(frozen=True)
class Selection:
    """Which records are kept: valid molecules only, the first of each distinct sequence (canonical
    SMILES for molecules), only molecules outside the reference set, and those meeting the goals."""

    valid: bool = False
    unique: bool = False
    novel: bool = False
    goals: tuple[Goal, ...] = ()

    @property
    def active(self) -> bool:
        return self.valid or self.unique or self.novel or bool(self.goals)

    def describe(self) -> list[str]:
        out = [
            flag for flag, on in (("valid", self.valid), ("unique", self.unique), ("novel", self.novel)) if on
        ]
        return out + [f"{g.name} in [{g.low:g}, {g.high:g}]" for g in self.goals]


class Selector:
    """Applies a Selection to records in row order (it remembers what it kept, for uniqueness)."""

    def __init__(self, selection: Selection, reference: set[str] | None = None):
        if selection.novel and reference is None:
            raise ValueError("a novelty filter needs a reference set")
        self.selection = selection
        self.reference = reference or set()
        self._seen: set[str] = set()

    def accepts(self, rec: Record, finish: Callable[[Record], bool] | None = None) -> bool:
        """Whether rec passes; `finish(rec)`, called last, may still refuse it (find_hits measures
        a candidate's other properties there)."""
        s = self.selection
        if (s.valid or s.novel or s.goals) and not rec.valid:
            return False
        key = rec.canonical if rec.canonical is not None else rec.sequence
        if s.novel and key in self.reference:
            return False
        if not all(g.met(rec.properties.get(g.name)) for g in s.goals):
            return False
        if s.unique and key in self._seen:
            return False
        if finish is not None and not finish(rec):
            return False
        if s.unique:
            self._seen.add(key)
        return True

    def select(self, records: Sequence[Record]) -> list[Record]:
        return [r for r in records if self.accepts(r)]


@dataclass
class HitSearch:
    """The outcome of find_hits: the hits (row order), every record examined, the time taken."""

    hits: list[Record]
    drawn: list[Record]
    wanted: int
    max_samples: int
    seconds: float
    interrupted: bool = False
    selection: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.hits) >= self.wanted

    @property
    def acceptance(self) -> float:
        return len(self.hits) / len(self.drawn) if self.drawn else 0.0

    @property
    def hits_per_s(self) -> float:
        return len(self.hits) / max(self.seconds, 1e-9)

    def as_dict(self) -> dict[str, Any]:
        return {
            "wanted": self.wanted,
            "hits": len(self.hits),
            "samples": len(self.drawn),
            "max_samples": self.max_samples,
            "acceptance": self.acceptance,
            "seconds": self.seconds,
            "hits_per_s": self.hits_per_s,
            "samples_per_s": len(self.drawn) / max(self.seconds, 1e-9),
            "complete": self.complete,
            "selection": self.selection,
        }


def find_hits(
    gen: Generator,
    request: Mapping[str, Any],
    selector: Selector,
    n: int,
    *,
    max_samples: int,
    seed: int,
    batch_size: int,
    settings: SamplingSettings,
    pool: Pool | None = None,
    clock: Callable[[], float] = time.perf_counter,
    progress: Callable[[int, int], None] | None = None,
) -> HitSearch:
    """The first n records (in row order) that `selector` accepts, drawing at most max_samples
    samples of `request` in batches (checked in `pool` while the next batch is sampled, see
    Generator.generate_batches). Fewer hits when the budget runs out (`complete` is False) or
    on Ctrl-C (`interrupted`): the hits found so far are kept.

    Every sample is measured on the goals' properties only; a candidate that meets them is then
    measured on the model's other properties (QED, the slowest, is often not a goal), and one
    RDKit cannot measure is invalid, as a full check would find it. The hits carry every property;
    the other samples drawn, the goals' properties. `progress(samples, hits)`, when given, is told
    after each batch how many samples and hits that batch added."""
    gen.conditions.check_names(request)
    measured = gen.measured_properties()
    goal_names = {g.name for g in selector.selection.goals}
    first = [p for p in measured if p in goal_names]
    finish = _measure_rest([p for p in measured if p not in goal_names])
    hits: list[Record] = []
    drawn: list[Record] = []
    interrupted = False
    t0 = clock()
    requests = [request] * max_samples
    batches = gen.generate_batches(requests, seed, batch_size, settings, True, pool, properties=first)
    try:
        for batch in batches:
            before = (len(drawn), len(hits))
            for rec in batch:
                drawn.append(rec)
                if selector.accepts(rec, finish):
                    hits.append(rec)
                    if len(hits) == n:
                        break
            if progress is not None:
                progress(len(drawn) - before[0], len(hits) - before[1])
            if len(hits) == n:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        batches.close()
    seconds = clock() - t0
    return HitSearch(hits, drawn, n, max_samples, seconds, interrupted, selector.selection.describe())


def _measure_rest(names: list[str]) -> Callable[[Record], bool] | None:
    """A finish step for Selector.accepts that adds the properties `names` to a record (in this
    process); False, and the record made invalid, when RDKit cannot measure them."""
    if not names:
        return None
    from seqcvae.chem.properties import analyse_smiles

    def finish(rec: Record) -> bool:
        canonical, props = analyse_smiles(rec.sequence, names)
        if canonical is None:
            rec.canonical, rec.valid, rec.properties = None, False, {}
            return False
        rec.properties.update(props)
        return True

    return finish
