"""Generated samples on disk: one column schema for generate, transfer, sweep and the latent tools,
written as CSV, TSV or Parquet, or as SDF / SMILES lines of the valid molecules (no torch; RDKit
only for SDF, through seqcvae.chem).

Columns, in this order (a column appears only where it applies):

    target_index       sweep, generate --requests: which target (request) the sample belongs to
    index              the sample's number (counted per target in a sweep and per request)
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
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from seqcvae.errors import ConfigError
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

    def values(
        self, record: SampleRecord, source: str | None = None, target_index: int | None = None
    ) -> list[Any]:
        """The values of one record in column order (None where there is none)."""
        row: list[Any] = [target_index] if self.target_index else []
        row += [record.index, source] if self.source else [record.index]
        extra: Mapping[str, Any] = getattr(record, "extra", {})
        row += [extra.get(name) for name in self.extra]
        row.append(record.sequence)
        if self.measured is not None:
            row += [record.canonical, int(record.valid)]
            row += [record.properties.get(p) for p in self.measured]
        return row + [record.targets.get(t) for t in self.targets]

    def row(
        self, record: SampleRecord, source: str | None = None, target_index: int | None = None
    ) -> list[Any]:
        """The cells of one record: empty for a missing value, 6 significant digits for floats."""
        return [
            v if type(v) in (int, str) else format_cell(v) for v in self.values(record, source, target_index)
        ]


def target_names(records: Iterable[SampleRecord]) -> list[str]:
    """The requested conditions of a set of records, sorted by name (generate's and transfer's order)."""
    return sorted({k for r in records for k in r.targets})


# Sample files by extension: the one schema as a table, or the valid molecules of a SMILES run.
SAMPLE_FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".parquet": "Parquet",
    ".sdf": "SDF (valid molecules, the other columns as properties)",
    ".smi": "SMILES lines (valid molecules: canonical SMILES and index)",
}
MOLECULE_FORMATS = (".sdf", ".smi")


def molecules_in_file(path: str | Path) -> int | None:
    """The molecules a molecule format (.smi, .sdf) written by write_samples holds; None for a
    table (which holds every record)."""
    suffix = Path(path).suffix.lower()
    if suffix not in MOLECULE_FORMATS:
        return None
    with open(path, encoding="utf-8") as fh:
        if suffix == ".smi":
            return sum(1 for line in fh if line.strip())
        return sum(1 for line in fh if line.rstrip("\r\n") == "$$$$")


def sample_format(path: str | Path, kind: str | None = None, flag: str = "--out") -> str:
    """The extension of a sample file, checked: one of SAMPLE_FORMATS, and for a text run
    (`kind` "text") not a molecule format. Fails before any work, naming the path."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAMPLE_FORMATS:
        raise ConfigError(
            f"{flag} {str(path)!r}: unknown extension {suffix or '(none)'!r}; expected "
            + ", ".join(SAMPLE_FORMATS)
        )
    if kind == "text" and suffix in MOLECULE_FORMATS:
        raise ConfigError(
            f"{flag} {str(path)!r}: {suffix} holds molecules; a text run writes .csv, .tsv or .parquet"
        )
    return suffix


def write_samples(
    path: str | Path,
    records: Iterable[SampleRecord],
    schema: SampleSchema,
    sources: Sequence[str] | None = None,
    target_index: int | Sequence[int] | None = None,
    fmt: str | None = None,
) -> int:
    """Write records atomically in the format of the path's extension (SAMPLE_FORMATS; `fmt`, e.g.
    ".csv", whatever the path's name): readers
    see the old file or the whole new one, and a write that fails part-way leaves the old file (or
    none) and no partial file behind. `target_index`: one for every record (a sweep's part), or one
    per record (generate --requests). Returns how many records a molecule format (.sdf, .smi) left
    out as invalid; tables hold every record."""
    if schema.source and sources is None:
        raise ValueError("this schema has a source column: give the sources, one per record")
    suffix = fmt or sample_format(path, "smiles" if schema.smiles else "text")
    per_record = target_index if isinstance(target_index, Sequence) else None
    every = None if isinstance(target_index, Sequence) else target_index
    rows = (
        schema.values(
            r,
            sources[i] if sources is not None else None,
            per_record[i] if per_record is not None else every,
        )
        for i, r in enumerate(records)
    )
    columns = schema.columns()
    if suffix == ".parquet":
        _write_parquet(path, columns, list(rows))
        return 0
    if suffix == ".smi":
        at = columns.index(CANONICAL)
        skipped = 0
        with atomic_open(path, "w", newline="") as fh:
            lines = SmiRows(fh, columns)
            for v in rows:
                if v[at]:
                    lines.write(v)
                else:
                    skipped += 1
        return skipped
    if suffix == ".sdf":
        from seqcvae.chem.sdf import SdfRows

        with atomic_open(path, "w") as fh:
            sink = SdfRows(fh, columns)
            try:
                for v in rows:
                    sink.write([format_cell(x) for x in v])
            finally:
                sink.close()
        return sink.skipped
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",")
        w.writerow(columns)
        w.writerows([format_cell(x) for x in v] for v in rows)
    return 0


class SmiRows:
    """SMILES lines of valid rows: canonical SMILES, index and, where the columns have one,
    target_index, tab-separated (generate's .smi and a sweep's molecules.smi)."""

    def __init__(self, fh: IO[str], columns: list[str]):
        self._fh = fh
        self._at = [columns.index(c) for c in (CANONICAL, INDEX, TARGET_INDEX) if c in columns]

    def write(self, row: Sequence[Any]) -> None:
        self._fh.write("\t".join(str(row[j]) for j in self._at) + "\n")


def _write_parquet(path: str | Path, columns: list[str], rows: list[list[Any]]) -> None:
    """Typed columns (integers, floats, strings; missing values null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {}
    for j, name in enumerate(columns):
        values = [r[j] for r in rows]
        if any(isinstance(x, float) for x in values):  # a float column: None and NaN are null
            values = [None if x is None or (isinstance(x, float) and math.isnan(x)) else x for x in values]
        data[name] = pa.array(values, from_pandas=True) if values else pa.array([], type=pa.string())
    with atomic_open(path, "wb") as fh:
        pq.write_table(pa.table(data), fh)


def write_samples_csv(
    path: str | Path,
    records: Iterable[SampleRecord],
    schema: SampleSchema,
    sources: Sequence[str] | None = None,
    target_index: int | Sequence[int] | None = None,
) -> None:
    """A sample table as CSV whatever the path's name (a sweep's parts and samples.csv)."""
    write_samples(path, records, schema, sources, target_index, fmt=".csv")


def write_records(
    path: str | Path,
    records: Sequence[SampleRecord],
    kind: str,
    measured: Sequence[str],
    sources: Sequence[str] | None = None,
    extra: Sequence[str] = (),
    target_index: Sequence[int] | None = None,
) -> int:
    """generate's, transfer's and the latent tools' file, in the format of its extension: the
    records of a `kind` run with their measured properties, the requested conditions (sorted by
    name), for transfer and the latent tools each record's input or seed (`sources`), the
    tools' own `extra` columns, and for generate --requests each record's request (`target_index`,
    one per record). Returns the records a molecule format left out as invalid."""
    if target_index is not None and len(target_index) != len(records):
        raise ValueError(f"{len(target_index)} target indices for {len(records)} records")
    schema = SampleSchema.for_run(
        kind,
        measured,
        target_names(records),
        source=sources is not None,
        target_index=target_index is not None,
        extra=extra,
    )
    return write_samples(path, records, schema, sources, target_index)
