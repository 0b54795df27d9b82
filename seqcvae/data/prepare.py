"""Turn a training table into clean sequences and condition columns, counting what was skipped."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqcvae.config import DataConfig
from seqcvae.data.tables import read_table, require_columns
from seqcvae.errors import DataError


@dataclass
class PreparedData:
    """Rows that passed every check, in file order."""

    sequences: list[str]
    columns: dict[str, np.ndarray]  # continuous condition name -> (N,) float64
    tag_columns: dict[str, list[str]]
    canonical: list[str] = field(default_factory=list)  # SMILES only: RDKit canonical form
    total_rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.sequences)

    def skip_summary(self) -> str:
        if not self.skipped:
            return f"{len(self)} rows kept, none skipped"
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return f"{len(self)} of {self.total_rows} rows kept; skipped: {parts}"

    def subset(self, idx: np.ndarray) -> PreparedData:
        return PreparedData(
            sequences=[self.sequences[i] for i in idx],
            columns={k: v[idx] for k, v in self.columns.items()},
            tag_columns={k: [v[i] for i in idx] for k, v in self.tag_columns.items()},
            canonical=[self.canonical[i] for i in idx] if self.canonical else [],
            total_rows=len(idx),
        )


def limit_rows(rows: list[dict[str, str]], limit: int) -> list[dict[str, str]]:
    """A fixed random subset of `limit` rows (seed 0), kept in file order; all rows if limit <= 0.

    Random rather than the first rows, because files are often sorted (by domain, by label).
    """
    if limit <= 0 or limit >= len(rows):
        return rows
    idx = np.sort(np.random.default_rng(0).choice(len(rows), size=limit, replace=False))
    return [rows[i] for i in idx]


def _parse_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        return math.nan
    return x


def prepare_smiles(path: str | Path, cfg: DataConfig, workers: int = 1) -> PreparedData:
    """Read a SMILES table; skip empty, untokenizable, RDKit-invalid, over-long or NaN rows."""
    from seqcvae.chem.properties import PROPERTY_NAMES, analyse_many
    from seqcvae.tokenizers.smiles import split_smiles

    columns, rows = read_table(path, cfg.sequence_column)
    require_columns(path, columns, [cfg.sequence_column, *cfg.tags])
    computed = [p for p in cfg.properties if p not in columns]
    not_rdkit = [p for p in computed if p not in PROPERTY_NAMES]
    if not_rdkit:
        raise DataError(
            f"data file {str(path)!r} has no column {not_rdkit[0]!r} and it is not an RDKit property "
            f"seqcvae can compute ({', '.join(PROPERTY_NAMES)}); its columns are: {', '.join(columns)}"
        )
    rows = limit_rows(rows, cfg.limit)
    skipped: Counter[str] = Counter()
    candidates: list[tuple[str, dict[str, str]]] = []
    for row in rows:
        smi = row.get(cfg.sequence_column, "").strip()
        if not smi:
            skipped["empty"] += 1
            continue
        try:
            n_tokens = len(split_smiles(smi))
        except ValueError:
            skipped["untokenizable"] += 1
            continue
        if n_tokens > cfg.max_length:
            if cfg.too_long == "drop":
                skipped["too_long"] += 1
                continue
            # Truncation cuts a SMILES mid-molecule; RDKit usually rejects it below.
            smi = "".join(split_smiles(smi)[: cfg.max_length])
        candidates.append((smi, row))

    analysed = analyse_many([s for s, _ in candidates], computed, workers=workers)
    rows_out = _RowCollector(cfg, skipped)
    for (smi, row), (canon, props) in zip(candidates, analysed):
        if canon is None:
            skipped["invalid_smiles"] += 1
            continue
        if rows_out.add(smi, row, props):
            rows_out.canonical.append(canon)
    data = rows_out.result(len(rows))
    _check_skips(path, data, cfg)
    return data


def prepare_text(path: str | Path, cfg: DataConfig) -> PreparedData:
    """Read a text table (sentence column + tag columns); skip empty texts and missing tags.

    Over-long sentences are handled after tokenisation (see TokenDataset.build), since their
    length is counted in SentencePiece tokens.
    """
    columns, rows = read_table(path, cfg.sequence_column)
    require_columns(path, columns, [cfg.sequence_column, *cfg.tags, *cfg.properties])
    rows = limit_rows(rows, cfg.limit)
    skipped: Counter[str] = Counter()
    rows_out = _RowCollector(cfg, skipped)
    for row in rows:
        text = row.get(cfg.sequence_column, "").strip()
        if not text:
            skipped["empty"] += 1
            continue
        rows_out.add(text, row, {})
    data = rows_out.result(len(rows))
    _check_skips(path, data, cfg)
    return data


class _RowCollector:
    """Accumulates rows whose condition values and tags are all present; counts the others."""

    def __init__(self, cfg: DataConfig, skipped: Counter[str]):
        self.cfg = cfg
        self.skipped = skipped
        self.sequences: list[str] = []
        self.canonical: list[str] = []
        self.values: dict[str, list[float]] = {p: [] for p in cfg.properties}
        self.tags: dict[str, list[str]] = {t: [] for t in cfg.tags}

    def add(self, sequence: str, row: dict[str, str], measured: dict[str, float]) -> bool:
        """Keep the row (True) or count why not (False). `measured` overrides file columns."""
        vals = {p: measured[p] if p in measured else _parse_float(row.get(p, "")) for p in self.values}
        bad = next((p for p, v in vals.items() if not math.isfinite(v)), None)
        if bad is not None:
            self.skipped[f"missing_{bad}"] += 1
            return False
        row_tags = {t: row.get(t, "").strip() for t in self.tags}
        empty_tag = next((t for t, v in row_tags.items() if not v), None)
        if empty_tag is not None:
            self.skipped[f"missing_{empty_tag}"] += 1
            return False
        self.sequences.append(sequence)
        for p, v in vals.items():
            self.values[p].append(v)
        for tag, value in row_tags.items():
            self.tags[tag].append(value)
        return True

    def result(self, total_rows: int) -> PreparedData:
        return PreparedData(
            sequences=self.sequences,
            columns={p: np.asarray(v, dtype=np.float64) for p, v in self.values.items()},
            tag_columns=self.tags,
            canonical=self.canonical,
            total_rows=total_rows,
            skipped=self.skipped,
        )


def _check_skips(path: str | Path, data: PreparedData, cfg: DataConfig) -> None:
    total, n_skipped = data.total_rows, sum(data.skipped.values())
    if total == 0 or not data.sequences:
        raise DataError(f"data file {str(path)!r} has no usable rows ({data.skip_summary()})")
    if n_skipped / total > cfg.max_skip_fraction:
        raise DataError(
            f"data file {str(path)!r}: {n_skipped} of {total} rows are unusable "
            f"({n_skipped / total:.1%} > data.max_skip_fraction={cfg.max_skip_fraction}); "
            f"{data.skip_summary()}"
        )


def prepare_table(path: str | Path, cfg: DataConfig, workers: int = 1) -> PreparedData:
    """Dispatch on data.kind."""
    if cfg.kind == "text":
        return prepare_text(path, cfg)
    return prepare_smiles(path, cfg, workers=workers)
