"""The neighbours recipe: molecules decoded around one seed, summarised per radius."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqcvae.generation.generator import Generator
from seqcvae.latent.io import write_tool_records
from seqcvae.latent.neighbours import neighbours as decode_neighbours
from seqcvae.latent.seeds import check_seeds


def neighbours(
    checkpoint: str,
    smiles: str,
    *,
    n: int,
    radii: Sequence[float],
    out: str | None = None,
    which: str = "best",
    device: str = "cpu",
    seed: int = 0,
    workers: int = 1,
) -> tuple[Any, list[dict[str, Any]]]:
    gen = Generator.load(checkpoint, which=which, device=device)
    (seed_mol,) = check_seeds(gen, [smiles], "neighbours")
    records, rows = decode_neighbours(
        gen,
        seed_mol,
        n=n,
        radii=radii,
        seed=seed,
        reference=gen.reference_set(workers=workers),
        workers=workers,
    )
    if out:
        write_tool_records(out, gen, records, ["radius", "similarity"], [seed_mol.given] * len(records))
    return seed_mol, rows
