"""The reconstruct recipe: encode a file's molecules and decode them back; the accuracy report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqcvae.generation.generator import Generator
from seqcvae.latent.io import read_smiles, write_tool_records
from seqcvae.latent.reconstruct import reconstruct as reconstruct_seeds
from seqcvae.latent.seeds import SeedError, require_smiles_model, usable_seeds


def reconstruct(
    checkpoint: str,
    given: Sequence[str],
    input_path: str | None = None,
    column: str | None = None,
    *,
    n: int = 0,
    sampled: int = 0,
    out: str | None = None,
    which: str = "best",
    device: str = "cpu",
    seed: int = 0,
    workers: int = 1,
) -> dict[str, Any]:
    """The report of seqcvae.latent.reconstruct over the first `n` usable molecules (0 = all);
    molecules the model cannot read are counted and skipped."""
    gen = Generator.load(checkpoint, which=which, device=device)
    smiles = read_smiles(given, input_path, column, gen.config.data.sequence_column)
    require_smiles_model(gen, "reconstruct")
    seeds, skipped = usable_seeds(gen, smiles, n)
    if not seeds:
        raise SeedError(f"none of the {skipped} molecules can be read by this model")
    records, summary = reconstruct_seeds(gen, seeds, sampled=sampled, seed=seed, workers=workers)
    summary["skipped"] = skipped
    if out:
        write_tool_records(out, gen, records, ["match", "similarity"], [s.given for s in seeds])
    return summary
