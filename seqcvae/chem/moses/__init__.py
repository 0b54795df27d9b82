"""MOSES molecule-set metrics, with MOSES's definitions (molsets 0.3.1), computed in worker processes.

For generated SMILES `gen` against a reference set (the MOSES test split, say) and a training set:

- valid: fraction of `gen` that RDKit parses and sanitises (the empty string is invalid);
- unique@k: distinct canonical SMILES among the first k *valid* molecules, divided by k (or by the
  number of valid molecules when fewer);
- Novelty: distinct valid canonical SMILES not in the training set (compared as given: MOSES's
  files are canonical), over distinct valid canonical SMILES;
- IntDiv / IntDiv2: 1 - mean over valid molecules of the (power-p mean) Tanimoto similarity to all
  valid molecules, itself included (Morgan radius 2, 1024 bits);
- SNN: mean over valid molecules of the highest Tanimoto similarity to a reference molecule;
- Frag / Scaf: cosine similarity of BRICS-fragment counts / Bemis-Murcko scaffold counts (scaffolds
  with at least 2 rings) between the valid generated and the reference molecules;
- Filters: fraction of valid molecules with no ring of 8 or more atoms, no charged atom, only
  C N S O F Cl Br H, and no match of the MCF or PAINS SMARTS that MOSES ships
  (seqcvae/chem/data/moses_filters.json, copied from the molsets wheel);
- logP / SA / QED / weight: 1-D Wasserstein distance between the property values of the valid
  generated and the reference molecules;
- FCD: Frechet ChemNet Distance via the optional package fcd_torch (`pip install seqcvae[fcd]`);
  NaN when it is not installed.

Duplicates count as MOSES counts them (every valid generated molecule, repeats included); features are
computed once per distinct SMILES and weighted by multiplicity, which gives the same numbers faster.
`scripts/moses_parity.py` checks every metric against molsets itself.

Modules: features (parsing as MOSES, per-molecule features), filters, fcd, setstats (SetStats, its npz
format and cache path) and metrics (the assembly); the generic distances are in seqcvae.stats.
"""

from seqcvae.chem.moses.features import (
    FP_BITS,
    PROPERTY_METRICS,
    MolFeatures,
    mol_features,
    moses_canonical,
    moses_mol,
    scaffold,
)
from seqcvae.chem.moses.filters import ALLOWED_ATOMS, passes_filters
from seqcvae.chem.moses.metrics import compare_sets, internal_diversity, molecule_metrics
from seqcvae.chem.moses.setstats import REFERENCE_CACHE_VERSION, SetStats, reference_cache_path, set_stats

__all__ = [
    "ALLOWED_ATOMS",
    "FP_BITS",
    "PROPERTY_METRICS",
    "REFERENCE_CACHE_VERSION",
    "MolFeatures",
    "SetStats",
    "compare_sets",
    "internal_diversity",
    "mol_features",
    "molecule_metrics",
    "moses_canonical",
    "moses_mol",
    "passes_filters",
    "reference_cache_path",
    "scaffold",
    "set_stats",
]
