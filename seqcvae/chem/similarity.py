"""Tanimoto similarity on Morgan fingerprints (radius 2, 2048 bits), the field's default for
"similar to the seed" (JT-VAE's constrained optimisation, MOSES's SNN uses 1024 bits)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from rdkit import DataStructs
from rdkit.Chem import rdFingerprintGenerator

from seqcvae.chem.mol import mol_from_smiles

RADIUS = 2
BITS = 2048


@functools.lru_cache(maxsize=1)
def _generator() -> Any:
    return rdFingerprintGenerator.GetMorganGenerator(radius=RADIUS, fpSize=BITS)


def fingerprint(smiles: str) -> Any | None:
    """The Morgan bit vector of a SMILES, None when RDKit cannot parse it."""
    mol = mol_from_smiles(smiles)
    return None if mol is None else _generator().GetFingerprint(mol)


def tanimoto(a: str, b: str) -> float | None:
    """Tanimoto similarity of two SMILES, None when either is invalid."""
    fa, fb = fingerprint(a), fingerprint(b)
    if fa is None or fb is None:
        return None
    return float(DataStructs.TanimotoSimilarity(fa, fb))


def similarities(seed: str | Any, smiles: Sequence[str | None]) -> list[float | None]:
    """Tanimoto similarity of each SMILES to `seed` (a SMILES or a fingerprint); None for invalid
    or missing ones."""
    ref = fingerprint(seed) if isinstance(seed, str) else seed
    if ref is None:
        return [None] * len(smiles)
    fps = [None if s is None else fingerprint(s) for s in smiles]
    ok = [fp for fp in fps if fp is not None]
    bulk = iter(DataStructs.BulkTanimotoSimilarity(ref, ok)) if ok else iter(())
    return [None if fp is None else float(next(bulk)) for fp in fps]
