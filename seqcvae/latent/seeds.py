"""Seed molecules: checked before any work, each error naming the seed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from seqcvae.chem.properties import analyse_smiles
from seqcvae.errors import DataError, SeqCVAEError
from seqcvae.generation.generator import Generator
from seqcvae.tokenizers.base import UNK
from seqcvae.tokenizers.smiles import UnreadableSmilesError


class SeedError(DataError):
    """A seed molecule the model cannot start from."""


@dataclass
class Seed:
    """A checked seed: as given, RDKit's canonical form, its measured properties, and the
    conditions it is encoded under (its own properties)."""

    given: str
    canonical: str
    properties: dict[str, float]
    request: dict[str, Any] = field(default_factory=dict)


def require_smiles_model(gen: Generator, what: str) -> None:
    if gen.kind != "smiles":
        raise SeqCVAEError(f"{what} works on SMILES models; this checkpoint is a {gen.kind} model")


def check_seed(gen: Generator, smiles: str) -> Seed:
    """The seed as the model reads it, or a SeedError saying why it cannot."""
    text = smiles.strip()
    canon, props = analyse_smiles(text, gen.measured_properties())
    if canon is None:
        raise SeedError(f"seed {smiles!r} is not a SMILES that RDKit can read")
    try:
        tokens = gen.tokenizer.tokens(text)
    except UnreadableSmilesError:
        raise SeedError(f"seed {smiles!r} has characters the model's tokenizer cannot read") from None
    ids = gen.tokenizer.encode(text)
    unknown = sorted({t for t, i in zip(tokens, ids) if i == UNK})
    if unknown:
        raise SeedError(
            f"seed {smiles!r} has tokens outside the model's vocabulary: {', '.join(unknown)} "
            "(the model never saw them in training)"
        )
    limit = gen.config.data.max_length
    if len(ids) > limit:
        raise SeedError(f"seed {smiles!r} is {len(ids)} tokens long; this model reads at most {limit}")
    return Seed(text, canon, props, dict(props))


def usable_seeds(gen: Generator, smiles: Sequence[str], n: int = 0) -> tuple[list[Seed], int]:
    """The first `n` (0 = all) of `smiles` the model can read, and how many were skipped on the way."""
    seeds: list[Seed] = []
    skipped = 0
    for s in smiles:
        if n and len(seeds) == n:
            break
        try:
            seeds.append(check_seed(gen, s))
        except SeedError:
            skipped += 1
    return seeds, skipped


def check_seeds(gen: Generator, smiles: Sequence[str], what: str = "this command") -> list[Seed]:
    require_smiles_model(gen, what)
    if not smiles:
        raise SeqCVAEError("no seed molecules given")
    return [check_seed(gen, s) for s in smiles]


def encode_seeds(gen: Generator, seeds: Sequence[Seed]) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and log-variance of each seed under its own properties (N, Z) each."""
    return gen.posterior([s.given for s in seeds], [s.request for s in seeds])
