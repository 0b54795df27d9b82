"""RDKit lives here and only here: parsing, canonical SMILES, properties, molecule metrics.

Nothing in this package imports torch.
"""

from seqcvae.chem.mol import canonicalize, mol_from_smiles
from seqcvae.chem.properties import PROPERTY_NAMES, compute_properties

__all__ = ["PROPERTY_NAMES", "canonicalize", "compute_properties", "mol_from_smiles"]
