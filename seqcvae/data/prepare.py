"""Turn a training table into clean sequences and condition columns, counting what was skipped."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqcvae.config import DataConfig
from seqcvae.data.tables import iter_table, require_columns
from seqcvae.errors import DataError
from seqcvae.parallel import worker_pool


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
        return skip_summary(len(self), self.total_rows, self.skipped)

    @classmethod
    def concat(cls, parts: list[PreparedData]) -> PreparedData:
        """Chunks in order as one table (no chunks: an empty table)."""
        names = list(parts[0].columns) if parts else []
        tags = list(parts[0].tag_columns) if parts else []
        skipped: Counter[str] = Counter()
        for p in parts:
            skipped.update(p.skipped)
        return cls(
            sequences=[s for p in parts for s in p.sequences],
            columns={k: np.concatenate([p.columns[k] for p in parts]) for k in names},
            tag_columns={k: [v for p in parts for v in p.tag_columns[k]] for k in tags},
            canonical=[s for p in parts for s in p.canonical],
            total_rows=sum(p.total_rows for p in parts),
            skipped=skipped,
        )

    def subset(self, idx: np.ndarray) -> PreparedData:
        return PreparedData(
            sequences=[self.sequences[i] for i in idx],
            columns={k: v[idx] for k, v in self.columns.items()},
            tag_columns={k: [v[i] for i in idx] for k, v in self.tag_columns.items()},
            canonical=[self.canonical[i] for i in idx] if self.canonical else [],
            total_rows=len(idx),
        )


def limit_mask(n_rows: int, limit: int) -> np.ndarray | None:
    """Which of n_rows rows data.limit keeps: a fixed random subset of `limit` rows (seed 0), in
    file order; None (all rows) when limit <= 0 or >= n_rows.

    Random rather than the first rows, because files are often sorted (by domain, by label).
    """
    if limit <= 0 or limit >= n_rows:
        return None
    keep = np.zeros(n_rows, dtype=bool)
    keep[np.random.default_rng(0).choice(n_rows, size=limit, replace=False)] = True
    return keep


def _parse_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        return math.nan
    return x


def _limited_rows(path: str | Path, cfg: DataConfig) -> tuple[list[str], Iterator[dict[str, str]]]:
    """The table's columns and its rows after data.limit (a counting pass first when limited)."""
    columns, rows = iter_table(path, cfg.sequence_column)
    if cfg.limit <= 0:
        return columns, rows
    keep = limit_mask(sum(1 for _ in rows), cfg.limit)
    _, rows = iter_table(path, cfg.sequence_column)
    if keep is None:
        return columns, rows
    return columns, (r for r, k in zip(rows, keep) if k)


def _computed_properties(path: str | Path, cfg: DataConfig, columns: list[str]) -> list[str]:
    from seqcvae.chem.properties import PROPERTY_NAMES

    computed = [p for p in cfg.properties if p not in columns]
    not_rdkit = [p for p in computed if p not in PROPERTY_NAMES]
    if not_rdkit:
        raise DataError(
            f"data file {str(path)!r} has no column {not_rdkit[0]!r} and it is not an RDKit property "
            f"seqcvae can compute ({', '.join(PROPERTY_NAMES)}); its columns are: {', '.join(columns)}"
        )
    return computed


def property_sources(path: str | Path, cfg: DataConfig) -> dict[str, str]:
    """Where each continuous condition's training values come from: "file" (a column of the data
    file) or "rdkit" (measured by seqcvae because the SMILES file has no such column). Reads the
    header only."""
    columns, _ = iter_table(path, cfg.sequence_column)
    if cfg.kind == "text":
        return dict.fromkeys(cfg.properties, "file")
    computed = set(_computed_properties(path, cfg, columns))
    return {p: "rdkit" if p in computed else "file" for p in cfg.properties}


# A file column named like an RDKit property is "the same property" when its ranks agree with
# RDKit's (Spearman) and its values are close (MAE relative to the spread of RDKit's values).
AGREEMENT_MIN_SPEARMAN = 0.9
AGREEMENT_MAX_RELATIVE_MAE = 0.25


def rdkit_disagreements(sequences: list[str], columns: dict[str, np.ndarray]) -> list[str]:
    """Warnings for the file columns whose values disagree with RDKit's measurement of the same
    name on these molecules: generated molecules are measured with RDKit, so the MAE and Spearman
    reported against targets would then compare two different quantities."""
    from seqcvae.chem.metrics import spearman
    from seqcvae.chem.properties import PROPERTY_NAMES, analyse_many

    names = [n for n in columns if n in PROPERTY_NAMES]
    if not names or not sequences:
        return []
    measured = analyse_many(sequences, names)
    out = []
    for name in names:
        pairs = [(v, m[name]) for v, (c, m) in zip(columns[name], measured) if c is not None]
        if len(pairs) < 3:
            continue
        file_values, rdkit_values = np.asarray(pairs, dtype=np.float64).T
        rho = spearman(file_values, rdkit_values)
        mae = float(np.abs(file_values - rdkit_values).mean())
        spread = float(rdkit_values.std())
        too_far = mae > AGREEMENT_MAX_RELATIVE_MAE * spread if spread > 0 else mae > 1e-6
        if not too_far and (math.isnan(rho) or rho >= AGREEMENT_MIN_SPEARMAN):  # NaN: constant values
            continue
        out.append(
            f"the data file's {name!r} column disagrees with RDKit's {name} on {len(pairs)} training "
            f"molecules (Spearman {rho:.3f}, MAE {mae:.3g}, RDKit's std {spread:.3g}); the model is "
            f"trained on the file's values, but generated molecules are measured with RDKit, so "
            f"{name}'s MAE and Spearman against targets compare different quantities. Rename the "
            f"column (e.g. {name}_file) if it is another measure, or drop it to train on RDKit's {name}"
        )
    return out


def iter_prepared(
    path: str | Path, cfg: DataConfig, workers: int = 1, chunk_rows: int = 50_000
) -> Iterator[PreparedData]:
    """Read, check and measure the table in chunks of chunk_rows rows (memory independent of the
    file's size). Each chunk counts its own rows and skips; `check_skips` judges the totals."""
    columns, rows = _limited_rows(path, cfg)
    if cfg.kind == "text":
        require_columns(path, columns, [cfg.sequence_column, *cfg.tags, *cfg.properties])
        for chunk in _chunks(rows, chunk_rows):
            yield _prepare_text_rows(chunk, cfg)
        return
    require_columns(path, columns, [cfg.sequence_column, *cfg.tags])
    computed = _computed_properties(path, cfg, columns)
    chunks = _chunks(rows, chunk_rows)
    first = next(chunks, [])
    # Small tables are measured in this process: starting worker processes costs more.
    with worker_pool(workers if len(first) >= 4000 else 1) as pool:
        for chunk in itertools.chain([first], chunks):
            yield _prepare_smiles_rows(chunk, cfg, computed, pool)


def _chunks(rows: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _prepare_smiles_rows(
    rows: list[dict[str, str]], cfg: DataConfig, computed: list[str], pool: Any
) -> PreparedData:
    """Skip empty, untokenizable, RDKit-invalid, over-long or NaN rows; measure the rest."""
    from seqcvae.chem.properties import analyse_many
    from seqcvae.tokenizers.smiles import split_smiles

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

    analysed = analyse_many([s for s, _ in candidates], computed, pool=pool)
    rows_out = _RowCollector(cfg, skipped)
    for (smi, row), (canon, props) in zip(candidates, analysed):
        if canon is None:
            skipped["invalid_smiles"] += 1
            continue
        if rows_out.add(smi, row, props):
            rows_out.canonical.append(canon)
    return rows_out.result(len(rows))


def _prepare_text_rows(rows: list[dict[str, str]], cfg: DataConfig) -> PreparedData:
    """Skip empty texts and missing tags. Over-long sentences are handled after tokenisation
    (see TokenDataset.build), since their length is counted in SentencePiece tokens."""
    skipped: Counter[str] = Counter()
    rows_out = _RowCollector(cfg, skipped)
    for row in rows:
        text = row.get(cfg.sequence_column, "").strip()
        if not text:
            skipped["empty"] += 1
            continue
        rows_out.add(text, row, {})
    return rows_out.result(len(rows))


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


def check_skips(path: str | Path, total: int, kept: int, skipped: Counter[str], cfg: DataConfig) -> None:
    """Fail when nothing is usable or more than data.max_skip_fraction of the rows were skipped."""
    n_skipped = sum(skipped.values())
    if total == 0 or kept == 0:
        raise DataError(f"data file {str(path)!r} has no usable rows ({skip_summary(kept, total, skipped)})")
    if n_skipped / total > cfg.max_skip_fraction:
        raise DataError(
            f"data file {str(path)!r}: {n_skipped} of {total} rows are unusable "
            f"({n_skipped / total:.1%} > data.max_skip_fraction={cfg.max_skip_fraction}); "
            f"{skip_summary(kept, total, skipped)}"
        )


def skip_summary(kept: int, total: int, skipped: Counter[str]) -> str:
    if not skipped:
        return f"{kept} rows kept, none skipped"
    parts = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
    return f"{kept} of {total} rows kept; skipped: {parts}"


def prepare_table(path: str | Path, cfg: DataConfig, workers: int = 1) -> PreparedData:
    """The whole table in memory (see iter_prepared for the checks)."""
    data = PreparedData.concat(list(iter_prepared(path, cfg, workers=workers)))
    check_skips(path, data.total_rows, len(data), data.skipped, cfg)
    return data
