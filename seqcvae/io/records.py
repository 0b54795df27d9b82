"""Generated samples on disk: one CSV schema for generate, transfer and sweep (no torch, no RDKit).

Columns, in this order (a column appears only where it applies):

    target_index       sweep: which target of the sweep the sample belongs to
    index              the sample's number (counted per target in a sweep)
    source             transfer: the input sequence that was transferred; latent tools: the seed
    <extra>            latent tools: their own columns (radius, step, similarity, ...)
    sequence           the generated sequence, as generated (a SMILES string or a text)
    canonical_smiles   SMILES runs: RDKit's canonical form, empty when the SMILES is invalid
    valid              SMILES runs: 1 or 0
    <property>         SMILES runs: each RDKit-measured property (empty when invalid)
    target_<name>      each requested condition (a sweep: the swept ones, then the fixed ones)

The writers take any objects with the attributes of `SampleRecord` (generation.generator.Record).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from seqcvae.formatting import format_cell
from seqcvae.io.atomic import atomic_open

TARGET_INDEX = "target_index"
INDEX = "index"
SOURCE = "source"
SEQUENCE = "sequence"
CANONICAL = "canonical_smiles"
VALID = "valid"
TARGET_PREFIX = "target_"


class SampleRecord(Protocol):
    """What a sample writer reads of a record."""

    @property
    def index(self) -> int: ...
    @property
    def sequence(self) -> str: ...
    @property
    def canonical(self) -> str | None: ...
    @property
    def valid(self) -> bool: ...
    @property
    def properties(self) -> Mapping[str, float]: ...
    @property
    def targets(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class SampleSchema:
    """The columns of one sample file.

    measured: the RDKit-measured properties of a SMILES run ([] when it measures none), None for a
    text run (no SMILES columns); targets: the requested conditions, in column order.
    """

    measured: tuple[str, ...] | None
    targets: tuple[str, ...]
    source: bool = False
    target_index: bool = False
    extra: tuple[str, ...] = ()  # record.extra[name] columns, after source

    @classmethod
    def for_run(
        cls,
        kind: str,
        measured: Sequence[str],
        targets: Iterable[str],
        *,
        source: bool = False,
        target_index: bool = False,
        extra: Sequence[str] = (),
    ) -> SampleSchema:
        """The schema of a run of `kind` ("smiles" or "text")."""
        smiles = tuple(measured) if kind == "smiles" else None
        return cls(smiles, tuple(targets), source, target_index, tuple(extra))

    @property
    def smiles(self) -> bool:
        return self.measured is not None

    def columns(self) -> list[str]:
        head = [TARGET_INDEX] if self.target_index else []
        head += [INDEX, SOURCE] if self.source else [INDEX]
        head += list(self.extra)
        head.append(SEQUENCE)
        if self.measured is not None:
            head += [CANONICAL, VALID, *self.measured]
        return head + [TARGET_PREFIX + t for t in self.targets]

    def row(
        self, record: SampleRecord, source: str | None = None, target_index: int | None = None
    ) -> list[Any]:
        """The cells of one record: empty for a missing value, 6 significant digits for floats."""
        row: list[Any] = [target_index] if self.target_index else []
        row += [record.index, source] if self.source else [record.index]
        extra: Mapping[str, Any] = getattr(record, "extra", {})
        row += [format_cell(extra.get(name)) for name in self.extra]
        row.append(record.sequence)
        if self.measured is not None:
            row += [record.canonical or "", int(record.valid)]
            row += [format_cell(record.properties.get(p)) for p in self.measured]
        return row + [format_cell(record.targets.get(t)) for t in self.targets]


def target_names(records: Iterable[SampleRecord]) -> list[str]:
    """The requested conditions of a set of records, sorted by name (generate's and transfer's order)."""
    return sorted({k for r in records for k in r.targets})


def write_samples_csv(
    path: str | Path,
    records: Iterable[SampleRecord],
    schema: SampleSchema,
    sources: Sequence[str] | None = None,
    target_index: int | None = None,
) -> None:
    """Write records atomically: readers see the old file or the whole new one, and a write that
    fails part-way leaves the old file (or none) and no partial file behind."""
    if schema.source and sources is None:
        raise ValueError("this schema has a source column: give the sources, one per record")
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(schema.columns())
        for i, r in enumerate(records):
            w.writerow(schema.row(r, sources[i] if sources is not None else None, target_index))


def write_records_csv(
    path: str | Path,
    records: Sequence[SampleRecord],
    kind: str,
    measured: Sequence[str],
    sources: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> None:
    """generate's, transfer's and the latent tools' file: the records of a `kind` run with their
    measured properties, the requested conditions (sorted by name), for transfer and the latent
    tools each record's input or seed (`sources`), and the tools' own `extra` columns."""
    schema = SampleSchema.for_run(
        kind, measured, target_names(records), source=sources is not None, extra=extra
    )
    write_samples_csv(path, records, schema, sources)
