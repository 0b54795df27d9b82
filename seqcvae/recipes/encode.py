"""The encode recipe: SMILES -> posterior means and variances, written as .npy, .npz or a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seqcvae.generation.generator import Generator
from seqcvae.latent.io import check_encoding_path, read_smiles, write_encoding
from seqcvae.latent.reconstruct import kl_per_molecule
from seqcvae.latent.seeds import check_seeds, encode_seeds


@dataclass(frozen=True)
class Encoded:
    molecules: int
    latent_dim: int
    kl_per_molecule: float


def encode(
    checkpoint: str,
    given: Sequence[str],
    input_path: str | None,
    column: str | None,
    out: str,
    *,
    which: str = "best",
    device: str = "cpu",
) -> Encoded:
    check_encoding_path(out)
    gen = Generator.load(checkpoint, which=which, device=device)
    smiles = read_smiles(given, input_path, column, gen.config.data.sequence_column)
    seeds = check_seeds(gen, smiles, "encode")
    mu, logvar = encode_seeds(gen, seeds)
    write_encoding(out, [s.given for s in seeds], mu, logvar)
    return Encoded(len(seeds), int(mu.shape[1]), kl_per_molecule(mu, logvar))
