"""Edit a given molecule toward property targets while it stays similar to itself.

For each seed: decode its posterior mean under the new condition, then search its latent
neighbourhood with a population (cross-entropy style: proposals around the best molecules found so
far, at a spread of distances), every proposal decoded under the new condition and scored by RDKit.
Only molecules at or above the similarity floor are ever returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from seqcvae.chem.similarity import fingerprint, similarities
from seqcvae.data.goals import Goal
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from seqcvae.latent.paths import on_sphere
from seqcvae.latent.seeds import Seed, encode_seeds

DEFAULT_RADII = (0.5, 1.0, 2.0, 3.0)  # distances of proposals from their centre (latent units)


@dataclass
class EditTask:
    """One seed and the goals it should meet."""

    seed: Seed
    goals: list[Goal]

    def request(self, condition: str = "target", push: float = 1.0) -> dict[str, Any]:
        """The condition decoded under: the seed's own properties with the goals' values ("target"),
        or the seed's own properties only ("seed": a search that does not use the model's control).
        push > 1 asks for more than the goal's change from the seed's value: z, which carries the
        seed, pulls the decoded molecule back toward the seed's own properties."""
        req = dict(self.seed.request)
        if condition == "target":
            for g in self.goals:
                start = self.seed.properties.get(g.name, g.condition)
                req[g.name] = start + push * (g.condition - start)
        return req


@dataclass
class Candidate:
    canonical: str
    z: torch.Tensor
    similarity: float
    error: float  # sum over goals of the distance from each interval, in units of the property's std
    properties: dict[str, float]
    proposal: int  # which proposal found it first


@dataclass
class EditResult:
    task: EditTask
    candidates: list[Candidate] = field(default_factory=list)  # feasible, best first
    proposals: int = 0
    valid: int = 0

    @property
    def success(self) -> bool:
        return bool(self.candidates) and self.candidates[0].error == 0.0


def optimize(
    gen: Generator,
    tasks: Sequence[EditTask],
    *,
    min_similarity: float = 0.4,
    budget: int = 100,
    population: int = 25,
    elites: int = 5,
    radii: Sequence[float] = DEFAULT_RADII,
    condition: str = "target",
    pushes: Sequence[float] = (1.0,),
    search: bool = True,
    seed: int = 0,
    workers: int = 1,
    on_round: Callable[[int], None] | None = None,
) -> list[EditResult]:
    """Edit every task's seed within `budget` decoded proposals per seed (the first is the seed's
    posterior mean under the new condition; with search=False the remaining proposals are random
    points around the mean, with search=True they centre on the best molecules found so far).
    `on_round(k)`: called as each round of k proposals (over all seeds) is scored."""
    if not 0.0 <= min_similarity <= 1.0:
        raise ValueError(f"min_similarity = {min_similarity}: expected a number from 0 to 1")
    if budget < 1 or population < 1:
        raise ValueError(f"budget = {budget}, population = {population}: expected at least 1")
    results = [EditResult(t) for t in tasks]
    if not tasks:
        return results
    scale = _scales(gen)
    mu, _ = encode_seeds(gen, [t.seed for t in tasks])
    fps = [fingerprint(t.seed.canonical) for t in tasks]
    g = torch.Generator().manual_seed(seed)
    pools: list[dict[str, Candidate]] = [{} for _ in tasks]  # every valid molecule, feasible or not
    z = mu.clone()
    owner = list(range(len(tasks)))
    push = [1.0] * len(tasks)
    while True:
        requests = [tasks[i].request(condition, p) for i, p in zip(owner, push)]
        _score(gen, tasks, results, pools, fps, owner, z, requests, scale, seed, workers)
        if on_round is not None:
            on_round(len(owner))
        left = [i for i, r in enumerate(results) if r.proposals < budget]
        if not left:
            break
        owner, chunks, push = [], [], []
        for i in left:
            k = min(population, budget - results[i].proposals)
            centres = _centres(pools[i], mu[i], elites, min_similarity) if search else [mu[i]]
            pick = torch.randint(len(centres), (k,), generator=g).tolist()
            r = torch.tensor(radii, dtype=torch.float64)[torch.randint(len(radii), (k,), generator=g)]
            chunks.append(
                torch.stack([on_sphere(centres[p], float(rr), 1, g)[0] for p, rr in zip(pick, r.tolist())])
            )
            owner += [i] * k
            push += [float(pushes[j]) for j in torch.randint(len(pushes), (k,), generator=g).tolist()]
        z = torch.cat(chunks)
    for res, pool in zip(results, pools):
        feasible = [c for c in pool.values() if c.similarity >= min_similarity]
        res.candidates = sorted(feasible, key=lambda c: (c.error, -c.similarity, c.proposal))
    return results


def at_floor(results: Sequence[EditResult], floor: float) -> list[EditResult]:
    """The same results with only the candidates at or above a higher similarity floor (for
    searches that do not use the floor, such as random neighbours, one run serves every floor)."""
    return [
        EditResult(r.task, [c for c in r.candidates if c.similarity >= floor], r.proposals, r.valid)
        for r in results
    ]


def _scales(gen: Generator) -> dict[str, float]:
    """Each continuous condition's training standard deviation (errors are summed in these units)."""
    return {c.name: c.std or 1.0 for c in gen.conditions.continuous}


def _score(
    gen: Generator,
    tasks: Sequence[EditTask],
    results: list[EditResult],
    pools: list[dict[str, Candidate]],
    fps: list[Any],
    owner: list[int],
    z: torch.Tensor,
    requests: list[dict[str, Any]],
    scale: dict[str, float],
    seed: int,
    workers: int,
) -> None:
    records = gen.decode_latents(z, requests, seed=seed, workers=workers)
    by_task: dict[int, list[tuple[int, Record]]] = {}
    for j, (i, rec) in enumerate(zip(owner, records)):
        by_task.setdefault(i, []).append((j, rec))
    for i, items in by_task.items():
        res, task = results[i], tasks[i]
        sims = similarities(fps[i], [rec.canonical for _, rec in items])
        for (j, rec), sim in zip(items, sims):
            res.proposals += 1
            if not rec.valid or rec.canonical is None or sim is None:
                continue
            res.valid += 1
            if rec.canonical in pools[i] or rec.canonical == task.seed.canonical:
                continue
            err = sum(g.error(rec.properties[g.name]) / scale.get(g.name, 1.0) for g in task.goals)
            pools[i][rec.canonical] = Candidate(rec.canonical, z[j], sim, err, rec.properties, res.proposals)


def _centres(pool: dict[str, Candidate], mu: torch.Tensor, elites: int, floor: float) -> list[torch.Tensor]:
    """The latent codes of the best molecules so far (feasible first, then by error), or mu."""
    if not pool:
        return [mu]
    ranked = sorted(pool.values(), key=lambda c: (c.similarity < floor, c.error, -c.similarity))
    return [c.z for c in ranked[:elites]]


def result_records(results: Sequence[EditResult], keep: int) -> list[Record]:
    """The best `keep` candidates of each seed as records (extra: seed_index, rank, similarity,
    error, success), the seed in `source` order."""
    out: list[Record] = []
    for k, res in enumerate(results):
        for rank, c in enumerate(res.candidates[:keep]):
            out.append(
                Record(
                    len(out),
                    c.canonical,
                    c.canonical,
                    True,
                    dict(c.properties),
                    targets={g.name: g.condition for g in res.task.goals},
                    extra={
                        "seed_index": k,
                        "rank": rank + 1,
                        "similarity": c.similarity,
                        "error": c.error,
                        "meets_goals": int(c.error == 0.0),
                    },
                )
            )
    return out


def edit_summary(results: Sequence[EditResult], goals_tolerance_met: bool = True) -> dict[str, float]:
    """Success rate (best candidate meets every goal), mean similarity of the best success, mean
    error of the best candidate, proposals and validity."""
    n = len(results)
    wins = [r for r in results if r.success]
    best = [r.candidates[0] for r in results if r.candidates]
    return {
        "seeds": float(n),
        "success_rate": len(wins) / n if n else math.nan,
        "mean_similarity_of_success": (
            sum(r.candidates[0].similarity for r in wins) / len(wins) if wins else math.nan
        ),
        "with_a_feasible_candidate": len(best) / n if n else math.nan,
        "mean_error_of_best": sum(c.error for c in best) / len(best) if best else math.nan,
        "proposals_per_seed": sum(r.proposals for r in results) / n if n else math.nan,
        "proposal_validity": (
            sum(r.valid for r in results) / max(1, sum(r.proposals for r in results)) if n else math.nan
        ),
    }
