"""MOSES's medicinal-chemistry filters (molsets 0.3.1 mol_passes_filters with its defaults)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from rdkit import Chem, DataStructs

ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})


@functools.lru_cache(maxsize=1)
def _filters() -> list[tuple[Chem.Mol, Any]]:
    """(pattern, its RDKit pattern fingerprint) for every MCF and PAINS SMARTS."""
    path = resources.files("seqcvae") / "chem" / "data" / "moses_filters.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    patterns = [Chem.MolFromSmarts(smarts) for _, smarts in doc["filters"]]
    bad = [name for (name, _), p in zip(doc["filters"], patterns) if p is None]
    if bad:
        raise RuntimeError(f"unparsable filter SMARTS in moses_filters.json: {bad}")
    return [(p, Chem.PatternFingerprint(p)) for p in patterns]


def passes_filters(mol: Chem.Mol) -> bool:
    """MOSES's mol_passes_filters with its defaults."""
    rings = mol.GetRingInfo()
    if rings.NumRings() and any(len(r) >= 8 for r in rings.AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return False
    if any(a.GetSymbol() not in ALLOWED_ATOMS for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    # Pattern-fingerprint screen first (a match needs all the pattern's bits): 5x fewer
    # substructure searches, same answers (checked against molsets by scripts/moses_parity.py).
    screen = Chem.PatternFingerprint(with_h)
    for pattern, bits in _filters():
        if DataStructs.AllProbeBitsMatch(bits, screen) and with_h.HasSubstructMatch(pattern):
            return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None
