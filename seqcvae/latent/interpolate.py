"""Paths between two molecules in latent space."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqcvae.chem.similarity import similarities
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from seqcvae.latent.paths import path
from seqcvae.latent.seeds import Seed, encode_seeds


def interpolate(
    gen: Generator,
    a: Seed,
    b: Seed,
    *,
    steps: int,
    method: str = "linear",
    workers: int = 1,
) -> tuple[list[Record], dict[str, Any]]:
    """Decode `steps` points from A's posterior mean to B's (ends included), greedily, under
    conditions interpolated the same way (continuous properties linearly; A's tags for the first
    half of the path, B's for the second). Records carry `step`, `t`, `similarity_a` and
    `similarity_b`; the summary has the validity along the path, whether the ends decode to A and
    B, how many distinct molecules the path visits, and the similarity curves."""
    if steps < 2:
        raise ValueError(f"steps = {steps}: a path needs at least 2 points (the two ends)")
    mu, _ = encode_seeds(gen, [a, b])
    t, z = path(mu[0], mu[1], steps, method)
    requests = [_between(a.request, b.request, float(x)) for x in t]
    records = gen.decode_latents(z, requests, workers=workers)
    canon = [r.canonical for r in records]
    sim_a, sim_b = similarities(a.canonical, canon), similarities(b.canonical, canon)
    for i, rec in enumerate(records):
        rec.extra = {"step": i, "t": float(t[i]), "similarity_a": sim_a[i], "similarity_b": sim_b[i]}
    distinct = {c for c in canon if c}
    summary = {
        "method": method,
        "steps": steps,
        "validity": float(np.mean([r.valid for r in records])),
        "distinct_molecules": len(distinct),
        "starts_at_a": canon[0] == a.canonical,
        "ends_at_b": canon[-1] == b.canonical,
        "similarity_a": sim_a,
        "similarity_b": sim_b,
    }
    return records, summary


def _between(ra: dict[str, Any], rb: dict[str, Any], t: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in {*ra, *rb}:
        va, vb = ra.get(name), rb.get(name)
        if isinstance(va, float) and isinstance(vb, float):
            out[name] = (1 - t) * va + t * vb
        else:
            chosen = va if t < 0.5 else vb
            if chosen is not None:
                out[name] = chosen
    return out
