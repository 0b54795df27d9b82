"""Molecules as SDF records: the valid rows of a sample table, each with its other columns as
SD properties (the sample files' SDF format and a sweep's molecules.sdf)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from seqcvae.chem.mol import mol_from_smiles

# Columns an SDF record holds as its molecule, not as properties.
MOLECULE_COLUMNS = frozenset({"sequence", "canonical_smiles", "valid"})


class SdfRows:
    """Writes rows (cells as strings) of a table with a canonical_smiles column to an open text
    file; a row whose SMILES RDKit cannot read is left out and counted."""

    def __init__(self, fh: IO[str], columns: Sequence[str]):
        from rdkit import Chem

        self._writer = Chem.SDWriter(fh)
        self._columns = list(columns)
        self._smiles = self._columns.index("canonical_smiles")
        self.skipped = 0

    def write(self, row: Sequence[str]) -> None:
        mol = mol_from_smiles(row[self._smiles]) if row[self._smiles] else None
        if mol is None:
            self.skipped += 1
            return
        for name, value in zip(self._columns, row):
            if name not in MOLECULE_COLUMNS and value != "":
                mol.SetProp(name, str(value))
        self._writer.write(mol)

    def close(self) -> None:
        self._writer.close()
