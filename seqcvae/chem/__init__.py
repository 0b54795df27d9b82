"""RDKit lives here and only here: parsing, canonical SMILES, properties, molecule metrics.

Nothing in this package imports torch.
"""

from seqcvae.chem.properties import (
    PROPERTY_NAMES,
    canonicalize,
    compute_properties,
    mol_from_smiles,
)

__all__ = ["PROPERTY_NAMES", "canonicalize", "compute_properties", "mol_from_smiles"]
