"""MOSES metrics of SMILES against reference sets (seqcvae.chem.moses): the reference files'
statistics (cached by content), the default references, and the scoring of any SMILES file."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from seqcvae.chem.moses import SetStats, molecule_metrics, reference_cache_path, set_stats
from seqcvae.data.splits import resolve_data_path
from seqcvae.data.tables import read_sequences
from seqcvae.errors import DataError


def load_reference(path: str | Path, workers: int = 1, fcd: bool = True) -> SetStats:
    """Reference-set statistics of a SMILES file, cached under ~/.cache/seqcvae by content hash."""
    path = Path(path)
    try:
        cache = reference_cache_path(path, fcd)  # hashes the file's bytes
    except OSError:  # missing or unreadable: the table reader names the problem
        read_sequences(path)
        raise
    if cache.exists():
        try:
            return SetStats.load(cache)
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: recompute
    stats = set_stats(read_sequences(path), workers=workers, fcd=fcd)
    with contextlib.suppress(OSError):  # read-only home: no cache
        stats.save(cache)
    return stats


def uncached_references(references: dict[str, str], fcd: bool = True) -> list[str]:
    """The reference files whose statistics are not cached yet (computing them takes minutes per
    10,000 molecules with FCD); files that cannot be read are left to the table reader."""
    out = []
    for path in references.values():
        try:
            if not reference_cache_path(Path(path), fcd).exists():
                out.append(path)
        except OSError:
            continue
    return out


def parse_references(items: list[str] | None) -> dict[str, str]:
    """["test.csv", "TestSF=scaf.csv"] -> {"Test": "test.csv", "TestSF": "scaf.csv"}."""
    out: dict[str, str] = {}
    for i, item in enumerate(items or []):
        name, sep, path = item.partition("=")
        if not sep:
            name, path = ("Test" if i == 0 else f"Ref{i + 1}"), item
        if not name or not path:
            raise DataError(f"reference {item!r} is not FILE or NAME=FILE")
        out[name] = path
    return out


def moses_metrics(
    smiles: list[str],
    references: dict[str, str | list[str]],
    train: set[str] | None,
    workers: int,
    fcd: bool,
) -> dict[str, float]:
    refs: dict[str, list[str] | SetStats] = {
        name: ref if isinstance(ref, list) else load_reference(ref, workers, fcd)
        for name, ref in references.items()
    }
    return molecule_metrics(smiles, refs, train=train, workers=workers, fcd=fcd)


def evaluate_smiles_file(
    path: str | Path,
    references: dict[str, str] | None = None,
    train: str | Path | None = None,
    workers: int = 1,
    fcd: bool = True,
    column: str | None = None,
) -> dict[str, Any]:
    """MOSES metrics of any SMILES file (one per line, or a table with a `column` column)."""
    t0 = time.perf_counter()
    smiles = read_sequences(path, column)
    if not smiles:
        raise DataError(f"SMILES file {str(path)!r} has no rows to evaluate")
    train_set = set(read_sequences(train)) if train else None
    refs: dict[str, str | list[str]] = dict(references or {})
    report: dict[str, Any] = {
        "smiles": str(path),
        "kind": "smiles_file",
        "references": {k: str(v) for k, v in refs.items()},
        "train": str(train) if train else None,
        "moses": moses_metrics(smiles, refs, train_set, workers, fcd),
    }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def default_moses_references() -> dict[str, str]:
    """The MOSES test and scaffold-test splits: data/moses_full/ when scripts/prepare_moses_full.py
    has written it, else the shipped 5,000-molecule sample of the test split (no scaffold split).
    Empty when neither is there (an installed package without the data folder)."""
    out: dict[str, str] = {}
    for name, candidates in (
        ("Test", ("data/moses_full/test.csv.gz", "data/moses_sample/test.csv.gz")),
        ("TestSF", ("data/moses_full/test_scaffolds.csv.gz",)),
    ):
        found = next((p for p in map(resolve_data_path, candidates) if p.exists()), None)
        if found is not None:
            out[name] = str(found.resolve())
    return out
