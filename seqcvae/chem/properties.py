"""RDKit properties of molecules, with the exact functions named in data/README.md."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rdkit import Chem, RDConfig, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

RDLogger.DisableLog("rdApp.*")  # invalid generated SMILES are expected; we count them instead


@functools.lru_cache(maxsize=1)
def _sascorer() -> Any:
    """Ertl & Schuffenhauer SA score from RDKit's Contrib directory (ships in the rdkit wheel)."""
    contrib = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if not os.path.exists(os.path.join(contrib, "sascorer.py")):
        raise RuntimeError(f"RDKit Contrib SA_Score not found at {contrib}")
    if contrib not in sys.path:
        sys.path.insert(0, contrib)
    import sascorer

    return sascorer


def sa_score(mol: Chem.Mol) -> float:
    return float(_sascorer().calculateScore(mol))


PROPERTY_FUNCTIONS: dict[str, Callable[[Chem.Mol], float]] = {
    "MolWt": lambda m: float(Descriptors.MolWt(m)),
    "LogP": lambda m: float(Crippen.MolLogP(m)),
    "QED": lambda m: float(QED.qed(m)),
    "TPSA": lambda m: float(rdMolDescriptors.CalcTPSA(m)),
    "NumHDonors": lambda m: float(rdMolDescriptors.CalcNumHBD(m)),
    "NumHAcceptors": lambda m: float(rdMolDescriptors.CalcNumHBA(m)),
    "SAS": sa_score,
}
PROPERTY_NAMES: tuple[str, ...] = tuple(PROPERTY_FUNCTIONS)


def rdkit_version() -> str:
    """The installed RDKit's version: canonical SMILES (and so novelty) depend on it."""
    import rdkit

    return str(rdkit.__version__)


def check_property_names(names: Iterable[str]) -> list[str]:
    """Return names as a list, raising ValueError naming any unknown property."""
    names = list(names)
    unknown = [n for n in names if n not in PROPERTY_FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown RDKit property {unknown!r}; known properties: {', '.join(PROPERTY_NAMES)}")
    return names


def mol_from_smiles(smiles: str) -> Chem.Mol | None:
    """Parse and sanitize; None for empty or invalid SMILES (never raises)."""
    if not smiles or not smiles.strip():
        return None
    try:
        return Chem.MolFromSmiles(smiles)
    except Exception:  # RDKit raises for some malformed inputs instead of returning None
        return None


def canonicalize(smiles: str) -> str | None:
    """Canonical SMILES, or None when RDKit cannot parse the input."""
    mol = mol_from_smiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def compute_properties(mol: Chem.Mol, names: Sequence[str] = PROPERTY_NAMES) -> dict[str, float]:
    """RDKit-measured properties of one molecule."""
    return {n: PROPERTY_FUNCTIONS[n](mol) for n in names}


def analyse_smiles(smiles: str, names: Sequence[str]) -> tuple[str | None, dict[str, float]]:
    """(canonical SMILES or None, properties or {}) for one SMILES string."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None, {}
    return Chem.MolToSmiles(mol), compute_properties(mol, names)


def _analyse_chunk(
    args: tuple[list[str], tuple[str, ...]],
) -> list[tuple[str | None, dict[str, float]]]:
    chunk, names = args
    return [analyse_smiles(s, names) for s in chunk]


def analyse_many(
    smiles: Sequence[str],
    names: Sequence[str],
    workers: int = 1,
    chunk_size: int = 2000,
    pool: Any = None,
) -> list[tuple[str | None, dict[str, float]]]:
    """analyse_smiles over many strings, optionally in worker processes (order kept): in `pool`
    (a multiprocessing pool the caller reuses) or in a pool of `workers` made for this call."""
    names = tuple(check_property_names(names))
    if (pool is None and workers <= 1) or len(smiles) < 2 * chunk_size:
        return [analyse_smiles(s, names) for s in smiles]
    chunks = [(list(smiles[i : i + chunk_size]), names) for i in range(0, len(smiles), chunk_size)]
    if pool is not None:
        parts = pool.map(_analyse_chunk, chunks)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as own:
            parts = own.map(_analyse_chunk, chunks)
    return [r for part in parts for r in part]
