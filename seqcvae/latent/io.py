"""Reading seeds for the latent tools and writing what they return."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from seqcvae.data.tables import read_input_column
from seqcvae.errors import ConfigError, SeqCVAEError
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from seqcvae.io.atomic import atomic_open
from seqcvae.io.records import write_records

ENCODING_SUFFIXES = (".npy", ".npz", ".csv", ".tsv")


def read_smiles(
    given: Sequence[str] | None, path: str | None, column: str | None, sequence_column: str
) -> list[str]:
    """SMILES given on the command line, then those of a file's column (`column`, else the run's
    sequence column, else a one-column table's only column); at least one."""
    out = [s for s in (given or []) if s.strip()]
    if path:
        out += read_input_column(path, column, sequence_column)
    if not out:
        raise SeqCVAEError("give molecules with --smiles SMILES (repeatable) or --input FILE")
    return out


def check_encoding_path(path: str) -> None:
    if Path(path).suffix.lower() not in ENCODING_SUFFIXES:
        raise ConfigError(f"--out {path!r}: expected a file ending in {', '.join(ENCODING_SUFFIXES)}")


def write_encoding(path: str, smiles: Sequence[str], mu: torch.Tensor, logvar: torch.Tensor) -> None:
    """Posterior means and variances: .npy an array (N, 2, Z) of [mean, variance]; .npz arrays
    `mean`, `variance` and `smiles`; .csv/.tsv a table smiles, mean_0.., var_0..."""
    check_encoding_path(path)
    mean, var = mu.numpy().astype(np.float32), logvar.exp().numpy().astype(np.float32)
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        with atomic_open(path, "wb") as fh:
            np.save(fh, np.stack([mean, var], axis=1))
    elif suffix == ".npz":
        with atomic_open(path, "wb") as fh:
            np.savez(fh, mean=mean, variance=var, smiles=np.asarray(list(smiles)))
    else:
        z = mean.shape[1]
        with atomic_open(path, "w", newline="") as fh:
            w = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
            w.writerow(["smiles", *(f"mean_{i}" for i in range(z)), *(f"var_{i}" for i in range(z))])
            for s, m, v in zip(smiles, mean, var):
                w.writerow([s, *(f"{x:.6g}" for x in m), *(f"{x:.6g}" for x in v)])


def write_tool_records(
    path: str,
    gen: Generator,
    records: Sequence[Record],
    extra: Sequence[str],
    sources: Sequence[str] | None = None,
) -> int:
    """The one sample schema with the tool's own columns (and the seed of each row as `source`), in
    the format of the path's extension; returns the invalid rows a molecule format left out."""
    return write_records(path, records, gen.kind, gen.measured_properties(), sources, extra)
