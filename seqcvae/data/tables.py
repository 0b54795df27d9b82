"""Read tabular training files: CSV/TSV (optionally .gz), JSONL, and one-sequence-per-line .smi/.txt.

`iter_table` streams rows (memory independent of file size); `read_table` collects them.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seqcvae.errors import DataError

Row = dict[str, str]


def _raw_lines(path: Path) -> Iterator[str]:
    """Lines with their endings (\\n, \\r\\n or a lone \\r), gunzipped when .gz; bad bytes or a
    corrupt gzip stream raise DataError when reached."""
    gz = path.suffix == ".gz"
    raw: Any = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115
    line_no = 0
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
        try:
            for line_no, line in enumerate(stream, 1):  # noqa: B007
                yield line
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start : exc.start + 1]
            raise DataError(
                f"data file {str(path)!r} is not UTF-8 text (byte {bad!r} after line {line_no}); "
                "convert it to UTF-8"
            ) from None
        except (OSError, EOFError) as exc:
            what = "not a valid gzip file" if gz else "unreadable"
            raise DataError(f"data file {str(path)!r} is {what}: {exc}") from None


def check_data_file(path: Path) -> None:
    """DataError unless `path` is an existing file (not a directory)."""
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist")
    if path.is_dir():
        raise DataError(f"data path {str(path)!r} is a directory, expected a file")


def _open_lines(path: Path) -> Iterator[str]:
    """_raw_lines of a file that exists (iter_table checked), after checking that it is not
    empty (reads up to the first line that is not blank)."""
    lines = _raw_lines(path)
    head: list[str] = []
    for line in lines:
        head.append(line)
        if line.strip():
            return itertools.chain(head, lines)
    raise DataError(f"data file {str(path)!r} is empty")


def _ext(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1] if suffixes else ""


def _split_lines(lines: Iterator[str]) -> Iterator[str]:
    """Lines without their endings, split as str.splitlines would split the whole text."""
    for line in lines:
        yield from line.splitlines()


def iter_table(path: str | Path, sequence_column: str) -> tuple[list[str], Iterator[Row]]:
    """(column names, a lazy iterator of rows). Plain .smi/.txt files give one `sequence_column`
    per line. Errors in the file (bad bytes, bad quoting, bad JSON) raise DataError when reached."""
    path = Path(path)
    check_data_file(path)  # a missing file is the first thing wrong, whatever its name
    ext = _ext(path)
    if ext not in (".smi", ".txt", ".jsonl", ".csv", ".tsv"):
        raise DataError(
            f"data file {str(path)!r} has unsupported extension {ext!r}; expected .csv, .tsv, .jsonl, "
            ".smi or .txt (optionally .gz)"
        )
    stream = _open_lines(path)
    if ext in (".smi", ".txt"):
        return [sequence_column], _line_rows(stream, sequence_column, ext == ".smi")
    if ext == ".jsonl":
        rows = _json_rows(stream, path)
        first = next(rows, None)
        if first is None:
            return [], iter(())
        return list(first), itertools.chain([first], rows)
    delimiter = "\t" if ext == ".tsv" else ","
    quoting = csv.QUOTE_MINIMAL
    if ext == ".tsv":
        head = list(itertools.islice(stream, TSV_SNIFF_LINES))
        stream = itertools.chain(head, stream)
        quoting = csv.QUOTE_MINIMAL if tsv_is_quoted(head) else csv.QUOTE_NONE
    reader = csv.DictReader(stream, delimiter=delimiter, quoting=quoting)  # type: ignore[call-overload]
    try:
        columns = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise DataError(f"{str(path)!r} is not a readable {ext} table: {exc}") from None
    if len(columns) == 1 and ("\t" in columns[0] or ";" in columns[0] or "," in columns[0]):
        other = "tab" if "\t" in columns[0] else ("';'" if ";" in columns[0] else "','")
        raise DataError(
            f"{str(path)!r}: header {columns[0]!r} looks {other}-delimited, but a {ext} file "
            f"must use {'tabs' if ext == '.tsv' else 'commas'}"
        )
    return columns, _csv_rows(reader, path, ext)


# Lines of a TSV file read to tell CSV-style quoting from none.
TSV_SNIFF_LINES = 2000
_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"')


def tsv_is_quoted(lines: list[str]) -> bool:
    """Whether a TSV file's first lines use CSV-style quoting, as Python's csv module, pandas or R
    write it: a field with a quote, a tab or a line break is enclosed in quotes with its quotes
    doubled (some writers quote every text field, the header too). A hand-written TSV has no
    quoting: there a quote is text, and a sentence may start with one.

    Quoted when there is evidence of quoting (the header is quoted, a field holds a doubled
    quote inside its enclosing quotes, or a quote opens a field that only closes after a tab or
    a line break) and the quoted reading is consistent: it parses, and every row has the header's
    width."""
    raw = [line.rstrip("\r\n").split("\t") for line in _split_lines(iter(lines))]
    if not raw:
        return False
    evidence = all(_QUOTED_FIELD.fullmatch(f) for f in raw[0] if f)
    for field in (f for row in raw for f in row if f.startswith('"')):
        whole = _QUOTED_FIELD.fullmatch(field)
        evidence = evidence or not whole or '""' in field[1:-1]
    if not evidence:
        return False
    try:
        parsed = list(csv.reader(io.StringIO("".join(lines), newline=""), delimiter="\t", strict=True))
    except csv.Error:
        return False
    width = len(parsed[0])
    return all(len(row) == width for row in parsed if row)


def _line_rows(stream: Iterator[str], column: str, smi: bool) -> Iterator[Row]:
    for line in _split_lines(stream):
        yield {column: (line.split() or [""])[0] if smi else line.strip()}


def _json_rows(stream: Iterator[str], path: Path) -> Iterator[Row]:
    for i, line in enumerate(_split_lines(stream), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{str(path)!r} line {i}: invalid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise DataError(f"{str(path)!r} line {i}: expected a JSON object, got {obj!r}")
        yield {k: "" if v is None else str(v) for k, v in obj.items()}


def _csv_rows(reader: csv.DictReader, path: Path, ext: str) -> Iterator[Row]:
    try:
        for r in reader:
            yield {k: (v or "") for k, v in r.items() if k is not None}
    except csv.Error as exc:
        raise DataError(f"{str(path)!r} is not a readable {ext} table: {exc}") from None


def read_table(path: str | Path, sequence_column: str) -> tuple[list[str], list[Row]]:
    """Return (column names, all rows)."""
    columns, rows = iter_table(path, sequence_column)
    return columns, list(rows)


def require_columns(path: str | Path, columns: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(
            f"data file {str(path)!r} has no column {missing[0]!r}; its columns are: "
            f"{', '.join(columns) or '(none)'}"
        )


def read_input_column(path: str | Path, column: str | None, sequence_column: str) -> list[str]:
    """The non-empty sequences of a --input file: `column`, else the run's own sequence column, else
    the only column of a one-column table (plain .txt/.smi files: one sequence per line)."""
    return read_input_rows(path, column, sequence_column)[0]


def read_input_rows(
    path: str | Path, column: str | None, sequence_column: str, keep: Sequence[str] = ()
) -> tuple[list[str], dict[str, list[str]]]:
    """read_input_column, and beside it the columns of `keep` that the file has (e.g. the inputs'
    own tags), one value per sequence."""
    columns, rows = read_table(path, column or sequence_column)
    if column is None:
        column = sequence_column if sequence_column in columns or len(columns) != 1 else columns[0]
    if column not in columns:
        raise DataError(
            f"--input {str(path)!r} has no column {column!r}; its columns are: "
            f"{', '.join(columns) or '(none)'} (choose one with --column)"
        )
    rows = [r for r in rows if r.get(column, "").strip()]
    kept = {name: [r.get(name, "") for r in rows] for name in keep if name in columns and name != column}
    return [r[column] for r in rows], kept


def read_sequences(path: str | Path, column: str | None = None) -> list[str]:
    """The sequences of one column; by default "SMILES", or a one-column table's only column."""
    columns, rows = read_table(path, column or "SMILES")
    if column is None:
        column = "SMILES" if "SMILES" in columns or len(columns) != 1 else columns[0]
    require_columns(path, columns, [column])
    return [r.get(column, "") for r in rows]
