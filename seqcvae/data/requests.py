"""Request files for `seqcvae generate --requests FILE`: one target per row, so that a property
ramp (or any list of targets) is one command.

A CSV or TSV table (optionally .gz; read by data.tables, TSV quoting detected as for training
files) has a header of condition names and an optional `n` column:

    LogP,MolWt,n
    0.5,,200          an empty cell: the condition is free (or its -c value, when one is given)
    1.5,250:350,      a range, as -c takes it; an empty n: the default count (--n; with
                      --hits, the row's number of hits, default --hits)

A TOML file has one `[[request]]` table per target, condition keys and an optional `n`:

    [[request]]
    LogP = 0.5
    n = 200

Values are read as `-c NAME=VALUE` reads them (data.conditions.parse_condition_value); whether a
value suits its condition (a number, a range, a known tag) is checked against the model by the
same code as -c values. Requests are numbered from 0 in file order (the sample file's target_index).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqcvae import _toml as tomllib
from seqcvae.data.conditions import parse_condition_value
from seqcvae.data.tables import iter_table
from seqcvae.errors import ConfigError, DataError

COUNT = "n"  # the column (or key) of a request's own number of samples
TABLE_EXTENSIONS = (".csv", ".tsv")
FLAG = "--requests"


@dataclass(frozen=True)
class RequestRow:
    """One request: the conditions it sets (as typed: numbers as floats, ranges and tags as text),
    its own count (None: the default), and where it is in the file (for error messages)."""

    given: dict[str, float | str]
    n: int | None
    where: str  # "row 3 (target_index 2)", "[[request]] 3 (target_index 2)"


@dataclass(frozen=True)
class RequestFile:
    path: str
    columns: list[str]  # the condition names it uses, in file order
    rows: list[RequestRow]
    flag: str = FLAG  # where the requests came from, for messages ("-c" for value lists)

    def check_columns(self, known: Collection[str]) -> None:
        """Every condition the file names is one of the model's (`known`)."""
        for name in self.columns:
            if name not in known:
                if self.flag != FLAG:
                    raise ConfigError(
                        f"-c {name}: not a condition of this model; it knows {', '.join(known) or 'none'}"
                    )
                raise ConfigError(
                    f"{FLAG} {self.path!r}: {name!r} is not a condition of this model; columns are "
                    f"its conditions ({', '.join(known) or 'none'}) and {COUNT!r}, the samples of a row"
                )

    def error(self, row: RequestRow, exc: Exception) -> str:
        """A message about one row: the file, the row, then what was wrong with it."""
        if self.flag != FLAG:
            return f"{row.where}: {exc}"
        return f"{FLAG} {self.path!r} {row.where}: {exc}"


def _where(kind: str, i: int) -> str:
    return f"{kind} {i + 1} (target_index {i})"


def read_requests(path: str | Path) -> RequestFile:
    """The requests of a .csv/.tsv (optionally .gz) or .toml file; DataError or ConfigError (one
    line naming the file and, for a row, the row) for a missing, empty or malformed file, a
    duplicate column or a bad `n`."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{FLAG} {str(p)!r} does not exist or is not a file")
    suffixes = [s.lower() for s in p.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    if ext == ".toml" and p.suffix.lower() == ".toml":
        return _read_toml(p)
    if ext in TABLE_EXTENSIONS:
        return _read_table(p)
    raise ConfigError(
        f"{FLAG} {str(p)!r}: unknown extension {ext or '(none)'!r}; expected .csv or .tsv (optionally "
        ".gz) with a header of condition names, or .toml with [[request]] tables"
    )


def _read_table(path: Path) -> RequestFile:
    raw_columns, rows = iter_table(path, COUNT)
    columns = [c.strip() for c in raw_columns]
    seen: set[str] = set()
    for c in columns:
        if not c:
            raise ConfigError(f"{FLAG} {str(path)!r}: the header has an empty column name")
        if c in seen:
            raise ConfigError(f"{FLAG} {str(path)!r}: column {c!r} appears twice in the header")
        seen.add(c)
    requests = []
    for i, row in enumerate(rows):
        where = _where("row", i)
        cells = {name.strip(): value.strip() for name, value in row.items()}
        given = {name: parse_condition_value(v) for name, v in cells.items() if name != COUNT and v}
        requests.append(RequestRow(given, _count(path, where, cells.get(COUNT, "")), where))
    if not requests:
        raise DataError(f"{FLAG} {str(path)!r} has a header but no rows: one row per request")
    return RequestFile(str(path), [c for c in columns if c != COUNT], requests)


def _count(path: Path, where: str, value: Any) -> int | None:
    """A row's n: empty (None, the default) or a positive whole number."""
    if value == "" or value is None:
        return None
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value)
    if n is None or n < 1:
        raise ConfigError(
            f"{FLAG} {str(path)!r} {where}: {COUNT}={value!r}: expected a positive whole number of "
            "samples (empty: the default, --n)"
        )
    return n


def _read_toml(path: Path) -> RequestFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{FLAG} {str(path)!r} is not valid TOML: {exc}") from None
    other = [k for k in data if k != "request"]
    if other:
        raise ConfigError(
            f"{FLAG} {str(path)!r}: unknown key {other[0]!r}; a request file holds [[request]] tables"
        )
    tables = data.get("request", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{FLAG} {str(path)!r}: 'request' must be [[request]] tables, one per request")
    if not tables:
        raise DataError(f"{FLAG} {str(path)!r} has no [[request]] tables: one per request")
    columns: list[str] = []
    requests = []
    for i, table in enumerate(tables):
        where = _where("[[request]]", i)
        given = {}
        for name, value in table.items():
            if name == COUNT:
                continue
            if name not in columns:
                columns.append(name)
            parsed = _toml_value(path, where, name, value)
            if parsed is not None:
                given[name] = parsed
        requests.append(RequestRow(given, _count(path, where, table.get(COUNT)), where))
    return RequestFile(str(path), columns, requests)


def _toml_value(path: Path, where: str, name: str, value: Any) -> float | str | None:
    """A number as a float, text as -c reads it ("" leaves the condition free)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return parse_condition_value(value) if value.strip() else None
    raise ConfigError(
        f'{FLAG} {str(path)!r} {where}: {name}={value!r}: expected a number, a range "LOW:HIGH" or a tag'
    )


LIST_SEPARATOR = ","


def expand_lists(given: Mapping[str, Any]) -> tuple[dict[str, Any], RequestFile | None]:
    """-c values given as lists (`-c sentiment=pos,neg`, `-c LogP=1,2,3`): one request per value,
    several lists their product in the order given, as rows of a request file whose messages name
    the -c values. Returns the single-valued conditions (which apply to every row) and the rows,
    or (given, None) when no value is a list."""
    lists = {
        name: value.split(LIST_SEPARATOR)
        for name, value in given.items()
        if isinstance(value, str) and LIST_SEPARATOR in value
    }
    if not lists:
        return dict(given), None
    for name, values in lists.items():
        if not all(v.strip() for v in values):
            raise ConfigError(
                f"-c {name}={given[name]}: an empty value in the list; expected VALUE1,VALUE2,..."
            )
    single = {k: v for k, v in given.items() if k not in lists}
    rows = []
    for i, combo in enumerate(itertools.product(*lists.values())):
        row = {name: parse_condition_value(v) for name, v in zip(lists, combo)}
        where = "-c " + " ".join(f"{k}={v.strip()}" for k, v in zip(lists, combo))
        rows.append(RequestRow(row, None, f"{where} (target_index {i})"))
    return single, RequestFile("-c", list(lists), rows, flag="-c")


def merged(given: Mapping[str, Any], row: RequestRow) -> dict[str, Any]:
    """A row's conditions over the -c ones: -c values apply to every row that does not set them."""
    return {**given, **row.given}
