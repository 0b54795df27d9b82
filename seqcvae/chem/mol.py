"""Parsing SMILES with RDKit, and canonical SMILES: the one implementation (no torch)."""

from __future__ import annotations

from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")  # invalid generated SMILES are expected; we count them instead


def mol_from_smiles(smiles: str, resanitize: bool = False) -> Chem.Mol | None:
    """Parse and sanitise; None for empty, blank or invalid SMILES (never raises).

    resanitize: run Chem.SanitizeMol once more on the parsed molecule (None if that fails), as
    MOSES's get_mol does; the MOSES metrics use it so that their validity is MOSES's. (RDKit parses
    every blank string to None, so skipping blank strings here does not change MOSES's answers.)
    """
    if not smiles or not smiles.strip():
        return None
    try:
        mol = Chem.MolFromSmiles(smiles)
        if mol is not None and resanitize:
            Chem.SanitizeMol(mol)
    except Exception:  # RDKit raises for some malformed inputs instead of returning None
        return None
    return mol


def random_smiles(smiles: str, seed: int) -> str | None:
    """One random (non-canonical) SMILES of the molecule, the same for the same seed; None when
    RDKit cannot parse the input."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    return Chem.MolToRandomSmilesVect(mol, 1, randomSeed=seed)[0]


def canonicalize(smiles: str, resanitize: bool = False) -> str | None:
    """Canonical SMILES, or None when RDKit cannot parse the input."""
    mol = mol_from_smiles(smiles, resanitize=resanitize)
    return None if mol is None else Chem.MolToSmiles(mol)
