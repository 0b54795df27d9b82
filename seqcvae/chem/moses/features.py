"""Parsing as MOSES does, and everything the set metrics need from one molecule."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold

from seqcvae.chem.mol import canonicalize, mol_from_smiles
from seqcvae.chem.moses.filters import passes_filters
from seqcvae.chem.properties import sa_score

FP_BITS = 1024
PROPERTY_METRICS = ("logP", "SA", "QED", "weight")


def moses_mol(smiles: str) -> Chem.Mol | None:
    """Parse as MOSES does: empty string or unparsable/unsanitisable SMILES -> None."""
    return mol_from_smiles(smiles, resanitize=True)


def moses_canonical(smiles: str) -> str | None:
    return canonicalize(smiles, resanitize=True)


@functools.lru_cache(maxsize=1)
def _morgan() -> Any:
    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FP_BITS)


def scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    try:
        scaf = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaf)
    if not smiles or scaf.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


@dataclass
class MolFeatures:
    """Everything the set metrics need from one molecule."""

    fp: bytes  # packed Morgan bits (radius 2, 1024 bits), np.packbits order
    fragments: list[str]
    scaffold: str | None
    passes: bool
    properties: tuple[float, float, float, float]  # logP, SA, QED, weight


def mol_features(mol: Chem.Mol) -> MolFeatures:
    bits = np.zeros(FP_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(_morgan().GetFingerprint(mol), bits)
    fragments = Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")
    props = (
        float(Crippen.MolLogP(mol)),
        sa_score(mol),
        float(QED.qed(mol)),
        float(Descriptors.MolWt(mol)),
    )
    return MolFeatures(np.packbits(bits).tobytes(), fragments, scaffold(mol), passes_filters(mol), props)


def _features_of(smiles: str) -> MolFeatures | None:
    mol = moses_mol(smiles)
    return None if mol is None else mol_features(mol)


def features_chunk(chunk: list[str]) -> list[MolFeatures | None]:
    """mol_features of each SMILES (None where MOSES finds it invalid); picklable for workers."""
    return [_features_of(s) for s in chunk]


def canonical_chunk(chunk: list[str]) -> list[str | None]:
    """moses_canonical of each SMILES; picklable for workers."""
    return [moses_canonical(s) for s in chunk]
