"""RDKit properties of molecules, with the exact functions named in data/README.md."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.pool import Pool
from typing import Any

from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

from seqcvae.chem.mol import mol_from_smiles
from seqcvae.parallel import map_chunks


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


def compute_properties(mol: Chem.Mol, names: Sequence[str] = PROPERTY_NAMES) -> dict[str, float]:
    """RDKit-measured properties of one molecule."""
    return {n: PROPERTY_FUNCTIONS[n](mol) for n in names}


def analyse_smiles(smiles: str, names: Sequence[str]) -> tuple[str | None, dict[str, float]]:
    """(canonical SMILES or None, properties or {}) for one SMILES string."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None, {}
    return Chem.MolToSmiles(mol), compute_properties(mol, names)


Analysis = tuple[str | None, dict[str, float]]


def _analyse_chunk(chunk: list[str], names: tuple[str, ...]) -> list[Analysis]:
    return [analyse_smiles(s, names) for s in chunk]


def analyser(names: Sequence[str]) -> Callable[[list[str]], list[Analysis]]:
    """analyse_smiles over a list of SMILES for `names`, picklable (for worker processes)."""
    return functools.partial(_analyse_chunk, names=tuple(check_property_names(names)))


def prepare_worker(names: Sequence[str]) -> None:
    """A worker process's initializer: load what measuring `names` needs (RDKit, the SA scorer)
    before the first chunk arrives."""
    analyse_smiles("CCO", tuple(names))


def analyse_many(
    smiles: Sequence[str],
    names: Sequence[str],
    workers: int = 1,
    chunk_size: int = 2000,
    pool: Pool | None = None,
) -> list[Analysis]:
    """analyse_smiles over many strings, optionally in worker processes (order kept): in `pool`
    (a `seqcvae.parallel.worker_pool` the caller reuses) or in a pool of `workers` made for this call."""
    return map_chunks(analyser(names), smiles, chunk_size, workers, pool)
