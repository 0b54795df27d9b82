"""Molecules decoded around a seed's latent code, at given distances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from seqcvae.chem.metrics import set_metrics
from seqcvae.chem.similarity import similarities
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from seqcvae.latent.paths import on_sphere
from seqcvae.latent.seeds import Seed, encode_seeds


def neighbours(
    gen: Generator,
    seed_mol: Seed,
    *,
    n: int,
    radii: Sequence[float],
    seed: int = 0,
    reference: set[str] | None = None,
    workers: int = 1,
) -> tuple[list[Record], list[dict[str, Any]]]:
    """n molecules at each distance r from the seed's posterior mean (random directions, greedy
    decoding under the seed's own properties). Records carry `radius` and `similarity`; the
    summary has one row per radius: validity, uniqueness, novelty (against `reference`), the
    fraction that is the seed itself and the similarity distribution of the valid ones."""
    if n < 1:
        raise ValueError(f"n = {n}: expected at least one neighbour per radius")
    mu, _ = encode_seeds(gen, [seed_mol])
    g = torch.Generator().manual_seed(seed)
    z = torch.cat([on_sphere(mu[0], float(r), n, g) for r in radii])
    records = gen.decode_latents(z, [seed_mol.request] * len(z), seed=seed, workers=workers)
    sims = similarities(seed_mol.canonical, [r.canonical for r in records])
    for i, (rec, sim) in enumerate(zip(records, sims)):
        rec.extra = {"radius": float(radii[i // n]), "similarity": sim}
    rows = []
    for k, r in enumerate(radii):
        part = records[k * n : (k + 1) * n]
        rows.append({"radius": float(r), **neighbourhood_summary(seed_mol, part, reference)})
    return records, rows


def neighbourhood_summary(
    seed_mol: Seed, records: Sequence[Record], reference: set[str] | None
) -> dict[str, float]:
    """Set metrics and the similarity distribution of a group of decoded molecules."""
    out = set_metrics([r.canonical for r in records], reference)
    valid = [r for r in records if r.valid]
    sims = np.array([r.extra["similarity"] for r in valid], dtype=float)
    out["same_as_seed"] = float(np.mean([r.canonical == seed_mol.canonical for r in records]))
    for name, q in (("similarity_p10", 10), ("similarity_median", 50), ("similarity_p90", 90)):
        out[name] = float(np.percentile(sims, q)) if len(sims) else float("nan")
    out["similarity_mean"] = float(sims.mean()) if len(sims) else float("nan")
    return out
