"""Read tabular training files: CSV/TSV (optionally .gz), JSONL, and one-sequence-per-line .smi/.txt."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

from seqcvae.errors import DataError

Row = dict[str, str]


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist")
    if path.is_dir():
        raise DataError(f"data path {str(path)!r} is a directory, expected a file")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"data file {str(path)!r} is not a valid gzip file: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {str(path)!r} is not UTF-8 text (byte {exc.start}: "
            f"{raw[exc.start : exc.start + 1]!r}); convert it to UTF-8"
        ) from None
    if not text.strip():
        raise DataError(f"data file {str(path)!r} is empty")
    return text


def read_table(path: str | Path, sequence_column: str) -> tuple[list[str], list[Row]]:
    """Return (column names, rows). Plain .smi/.txt files give one `sequence_column` per line."""
    path = Path(path)
    text = _read_text(path)
    suffixes = [s for s in path.suffixes if s != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".smi", ".txt"):
        rows = [
            {sequence_column: (line.split() or [""])[0] if ext == ".smi" else line.strip()}
            for line in text.splitlines()
        ]
        return [sequence_column], rows
    if ext == ".jsonl":
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{str(path)!r} line {i}: invalid JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise DataError(f"{str(path)!r} line {i}: expected a JSON object, got {obj!r}")
            rows.append({k: "" if v is None else str(v) for k, v in obj.items()})
        columns = list(rows[0]) if rows else []
        return columns, rows
    if ext in (".csv", ".tsv"):
        delimiter = "\t" if ext == ".tsv" else ","
        # TSV has no quoting convention: quotes inside sentences are text, not field delimiters.
        quoting = csv.QUOTE_NONE if ext == ".tsv" else csv.QUOTE_MINIMAL
        # newline="": the csv module sees \r and \r\n itself (a lone \r ends a row, as in Excel files)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)  # type: ignore[call-overload]
        try:
            columns = list(reader.fieldnames or [])
            rows = [{k: (v or "") for k, v in r.items() if k is not None} for r in reader]
        except csv.Error as exc:
            raise DataError(f"{str(path)!r} is not a readable {ext} table: {exc}") from None
        if len(columns) == 1 and ("\t" in columns[0] or ";" in columns[0] or "," in columns[0]):
            other = "tab" if "\t" in columns[0] else ("';'" if ";" in columns[0] else "','")
            raise DataError(
                f"{str(path)!r}: header {columns[0]!r} looks {other}-delimited, but a {ext} file "
                f"must use {'tabs' if ext == '.tsv' else 'commas'}"
            )
        return columns, rows
    raise DataError(
        f"data file {str(path)!r} has unsupported extension {ext!r}; expected .csv, .tsv, .jsonl, "
        ".smi or .txt (optionally .gz)"
    )


def require_columns(path: str | Path, columns: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(
            f"data file {str(path)!r} has no column {missing[0]!r}; its columns are: "
            f"{', '.join(columns) or '(none)'}"
        )


def read_sequences(path: str | Path, column: str | None = None) -> list[str]:
    """The sequences of one column; by default "SMILES", or a one-column table's only column."""
    columns, rows = read_table(path, column or "SMILES")
    if column is None:
        column = "SMILES" if "SMILES" in columns or len(columns) != 1 else columns[0]
    require_columns(path, columns, [column])
    return [r.get(column, "") for r in rows]
