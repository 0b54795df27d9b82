"""Canonical SMILES for novelty: a run's training molecules (in this RDKit's canonical form) or
any SMILES file."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Sequence
from pathlib import Path

REFERENCE_FILE = "reference_smiles.txt.gz"
REFERENCE_META = "reference_smiles.json"  # {"rdkit": version, "molecules": n}


def _canonical_set(smiles: Sequence[str], workers: int) -> set[str]:
    """RDKit canonical forms of the valid ones among `smiles`."""
    from seqcvae.chem.properties import analyse_many

    return {c for c, _ in analyse_many(smiles, [], workers) if c is not None}


def read_reference(path: str | Path, workers: int = 1) -> set[str]:
    """Canonical SMILES of a reference file: one SMILES a line (.smi, .txt) or a table (.csv,
    .tsv, .jsonl) with a SMILES column (or only one column), as `evaluate` reads them. Invalid
    SMILES are left out."""
    from seqcvae.data.tables import read_sequences

    return _canonical_set(read_sequences(path), workers)


def _read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def run_reference(run_dir: Path, workers: int = 1) -> set[str] | None:
    """The run's canonical training SMILES (None when the run has none), in this RDKit's
    canonical form: re-canonicalised (once; the copy is kept in the run directory when it can be
    written) when reference_smiles.json names another RDKit version. Runs from before the version
    was recorded are used as they are, with a warning."""
    import json
    import warnings

    from seqcvae.chem.properties import rdkit_version
    from seqcvae.errors import SeqCVAEWarning

    path = run_dir / REFERENCE_FILE
    if not path.exists():
        return None
    current = rdkit_version()
    try:
        written = json.loads((run_dir / REFERENCE_META).read_text(encoding="utf-8"))["rdkit"]
    except (OSError, ValueError, KeyError, TypeError):
        warnings.warn(
            f"the run's novelty reference {str(path)!r} does not record which RDKit version "
            f"canonicalised it (the run predates that record); it is used as RDKit {current}'s "
            "canonical form, so novelty is inflated if the run was trained with another RDKit",
            SeqCVAEWarning,
            stacklevel=3,
        )
        return set(_read_lines(path))
    if written == current:
        return set(_read_lines(path))
    copy = run_dir / f"reference_smiles.rdkit-{current}.txt.gz"
    what = f"the run's novelty reference was canonicalised by RDKit {written}, this is RDKit {current}"
    if copy.exists():
        note = f"{what}: using its copy re-canonicalised with RDKit {current} ({copy})"
        warnings.warn(note, SeqCVAEWarning, stacklevel=3)
        return set(_read_lines(copy))
    ref = _canonical_set(_read_lines(path), workers)
    warnings.warn(
        f"{what}: re-canonicalised its {len(ref)} molecules so that novelty compares like with like",
        SeqCVAEWarning,
        stacklevel=3,
    )
    from seqcvae.io.atomic import atomic_open

    best_effort = contextlib.suppress(OSError)  # a read-only run directory: re-canonicalise next time
    with best_effort, atomic_open(copy, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
        fh.writelines(s + "\n" for s in sorted(ref))
    return ref
