"""A sweep directory on disk: its layout, the spec file that identifies the sweep, which targets are
finished, and the streaming merge of the finished parts.

    spec.json                  the spec and the model (a rerun must match; finished targets are skipped)
    parts/target_00012.csv     samples of one target (io.records schema)
    parts/target_00012.json    its summary; its presence marks the target finished
    samples.csv                all samples (merged from parts/, streamed)
    summary.csv                one row per target
    overall.json               per-property Spearman / MAE over all targets, and the run's settings

Every file is written atomically (io.atomic). Merging keeps only the (target, measured) pairs that
the overall Spearman needs: 16 bytes per valid sample and swept property.
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqcvae.errors import ConfigError
from seqcvae.formatting import format_cell, json_safe
from seqcvae.io.atomic import atomic_open, atomic_write_text
from seqcvae.io.records import TARGET_PREFIX, VALID, SampleRecord, write_samples_csv
from seqcvae.sweep.outputs import OPTIONAL_FILES, RowSink, molecule_sinks, write_parquet
from seqcvae.sweep.plan import SweepPlan
from seqcvae.sweep.spec import SweepSpec
from seqcvae.sweep.summary import overall_summary

# Keys that change outputs or speed, not the samples (each sample depends only on its target's
# seed and its row, not on batching: tests/test_sampling.py checks batch_size).
OUTPUT_ONLY_KEYS = ("images", "sdf", "smi", "parquet", "batch_size")


def part_path(out: Path, i: int, ext: str) -> Path:
    return out / "parts" / f"target_{i:05d}.{ext}"


def _identity(spec_dict: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in spec_dict.items() if k not in OUTPUT_ONLY_KEYS}, sort_keys=True)


def check_spec_file(out: Path, spec: SweepSpec, model: dict[str, Any]) -> None:
    """Write spec.json (the spec and the model) or check that an existing one matches."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"sweep output {str(out)!r} is a file; give a directory")
    path = out / "spec.json"
    doc = {**spec.to_dict(), "model": model}
    mine = _identity(doc)
    if path.exists():
        theirs_doc = json.loads(path.read_text(encoding="utf-8"))
        if theirs_doc.get("model") != model:
            raise ConfigError(
                f"sweep directory {str(out)!r} was made with another model "
                f"({theirs_doc.get('model')}); resume with that checkpoint, or choose another --out"
            )
        if _identity(theirs_doc) != mine:
            raise ConfigError(
                f"sweep directory {str(out)!r} holds a different sweep (spec.json differs); "
                "rerun with the same spec to resume, or choose another --out"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def write_part(
    out: Path, plan: SweepPlan, i: int, records: Sequence[SampleRecord], summary: dict[str, Any]
) -> None:
    """Target i's samples, then its summary (which marks it finished)."""
    (out / "parts").mkdir(parents=True, exist_ok=True)
    write_samples_csv(part_path(out, i, "csv"), records, plan.schema(), target_index=i)
    atomic_write_text(part_path(out, i, "json"), json.dumps(summary) + "\n")


def _header(path: Path) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh), None)
    except OSError:
        return None


def is_done(out: Path, i: int, plan: SweepPlan) -> bool:
    """Target i is finished when its summary and its samples were written, the samples with this
    version's columns (a part written by a version with other column names is generated again:
    the same samples, since each target has its own seed)."""
    csv_path = part_path(out, i, "csv")
    return part_path(out, i, "json").exists() and _header(csv_path) == plan.schema().columns()


def finished(out: Path, plan: SweepPlan) -> list[int]:
    return [i for i in range(len(plan.requests)) if is_done(out, i, plan)]


class _PairCollector:
    """The (target, measured) values of the valid samples, per swept property, as two float64
    arrays (8 bytes a value while they are collected: no Python object per sample)."""

    def __init__(self, plan: SweepPlan, columns: list[str]):
        self._valid = columns.index(VALID) if plan.smiles else None
        self._cols = {p: (columns.index(TARGET_PREFIX + p), columns.index(p)) for p in plan.continuous}
        self._values = {p: (array("d"), array("d")) for p in plan.continuous}

    def valid(self, row: Sequence[str]) -> bool:
        return self._valid is not None and row[self._valid] == "1"

    def add(self, row: Sequence[str]) -> None:
        for p, (target, measured) in self._cols.items():
            if row[measured]:
                t, m = self._values[p]
                t.append(float(row[target]))
                m.append(float(row[measured]))

    def arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per property (targets, measured values), viewing the collected buffers (no copy)."""
        return {
            p: (np.frombuffer(t, dtype=np.float64), np.frombuffer(m, dtype=np.float64))
            for p, (t, m) in self._values.items()
        }


def _stream_samples(
    out: Path, plan: SweepPlan, done: list[int], pairs: _PairCollector, sinks: list[RowSink]
) -> None:
    """samples.csv: the finished parts one after another, their rows seen once on the way (the
    valid ones also go to each molecule file's sink)."""
    with atomic_open(out / "samples.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(plan.schema().columns())
        for i in done:
            with open(part_path(out, i, "csv"), newline="", encoding="utf-8") as part:
                reader = csv.reader(part)
                next(reader)
                for row in reader:
                    w.writerow(row)
                    if not pairs.valid(row):
                        continue
                    pairs.add(row)
                    for sink in sinks:
                        sink.write(row)


def _write_summary_csv(path: Path, summaries: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for s in summaries for k in s))
    with atomic_open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for s in summaries:
            w.writerow({k: format_cell(v) if isinstance(v, float) else v for k, v in s.items()})


def merge(out: Path, plan: SweepPlan) -> dict[str, Any]:
    """samples.csv, summary.csv and overall.json (and the files the spec asks for:
    molecules.sdf, molecules.smi, samples.parquet) from the finished parts, streamed in bounded
    memory."""
    done = finished(out, plan)
    summaries = [json.loads(part_path(out, i, "json").read_text(encoding="utf-8")) for i in done]
    pairs = _PairCollector(plan, plan.schema().columns())
    with molecule_sinks(out, plan) as sinks:
        _stream_samples(out, plan, done, pairs, sinks)
    files = [name for name, wanted in OPTIONAL_FILES.items() if wanted(plan)]
    if plan.spec.parquet:
        write_parquet(out, plan)
    _write_summary_csv(out / "summary.csv", summaries)
    overall = overall_summary(plan, summaries, pairs.arrays())
    if files:
        overall["files"] = files
    atomic_write_text(out / "overall.json", json.dumps(json_safe(overall), indent=2) + "\n")
    return overall
