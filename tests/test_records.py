"""One sample schema (seqcvae/io/records.py) for generate, transfer and sweep, written atomically."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from seqcvae.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SMILES_RUN = FIXTURES / "ckpt_b4cbcff_smiles_tiny"
TEXT_RUN = FIXTURES / "ckpt_b4cbcff_text_tiny"


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _headers(tmp_path: Path, run: Path, given: dict[str, str], swept: str, fixed: dict[str, str]) -> dict:
    """The sample files' headers of generate, transfer and sweep under the same conditions."""
    conditions = [a for k, v in given.items() for a in ("-c", f"{k}={v}")]
    common = ["--checkpoint", str(run)]
    gen, tr, sw = tmp_path / "g.csv", tmp_path / "t.csv", tmp_path / "sweep"
    assert main(["generate", *common, *conditions, "--n", "3", "--greedy", "--out", str(gen)]) == 0
    assert main(["transfer", *common, *conditions, "--text", "CCO", "--out", str(tr)]) == 0
    fixed_args = [a for k, v in fixed.items() for a in ("--fixed", f"{k}={v}")]
    argv = ["sweep", *common, "-t", f"{swept}={given[swept]}", *fixed_args, "--n", "2", "--greedy"]
    assert main([*argv, "--no-plots", "--images", "0", "--out", str(sw)]) == 0
    return {
        "generate": _header(gen),
        "transfer": _header(tr),
        "sweep": _header(sw / "samples.csv"),
        "part": _header(sw / "parts" / "target_00000.csv"),
    }


def test_generate_transfer_and_sweep_write_one_schema(tmp_path, capsys):
    h = _headers(tmp_path, SMILES_RUN, {"LogP": "1", "MolWt": "300"}, "LogP", {"MolWt": "300"})
    capsys.readouterr()
    samples = [
        "index",
        "sequence",
        "canonical_smiles",
        "valid",
        "LogP",
        "MolWt",
        "target_LogP",
        "target_MolWt",
    ]
    assert h["generate"] == samples
    assert h["transfer"] == ["index", "source", *samples[1:]]
    assert h["sweep"] == h["part"] == ["target_index", *samples]  # fixed conditions are targets too


def test_text_runs_write_the_same_schema_without_smiles_columns(tmp_path, capsys):
    from seqcvae.generation.generator import Generator
    from seqcvae.sweep import SweepSpec, plan_sweep

    common = ["--checkpoint", str(TEXT_RUN), "-c", "sentiment=pos"]
    gen, tr = tmp_path / "g.csv", tmp_path / "t.csv"
    assert main(["generate", *common, "--n", "2", "--greedy", "--out", str(gen)]) == 0
    assert main(["transfer", *common, "--text", "good food", "--out", str(tr)]) == 0
    capsys.readouterr()
    assert _header(gen) == ["index", "sequence", "target_sentiment"]
    # transfer adds the style classifier's verdict on each output (the run's training file is there)
    assert _header(tr) == ["index", "source", "style_sentiment", "sequence", "target_sentiment"]
    # a text sweep's files (written end to end in tests/test_sweep.py::test_text_tag_sweep)
    plan = plan_sweep(Generator.load(TEXT_RUN), SweepSpec.from_dict({"targets": {"sentiment": "pos"}}))
    assert plan.schema().columns() == ["target_index", "index", "sequence", "target_sentiment"]


@dataclass
class _Rec:
    index: int
    sequence: str
    canonical: str | None = None
    valid: bool = False
    properties: dict[str, float] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)


class _Boom(Exception):
    pass


def _failing(records: list[_Rec], after: int):
    for i, r in enumerate(records):
        if i == after:
            raise _Boom("disk full")
        yield r


def test_a_failed_write_leaves_the_old_file_and_no_partial_file(tmp_path):
    from seqcvae.io.records import SampleSchema, write_samples_csv

    schema = SampleSchema.for_run("smiles", ["LogP"], ["LogP"])
    records = [_Rec(i, "CCO", "CCO", True, {"LogP": -0.0014}, {"LogP": 1.0}) for i in range(5)]
    path = tmp_path / "samples.csv"
    with pytest.raises(_Boom):
        write_samples_csv(path, _failing(records, 3), schema)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary
    write_samples_csv(path, records, schema)
    before = path.read_bytes()
    assert before.decode().splitlines()[:2] == [
        "index,sequence,canonical_smiles,valid,LogP,target_LogP",
        "0,CCO,CCO,1,-0.0014,1",
    ]
    with pytest.raises(_Boom):
        write_samples_csv(path, _failing(records[::-1], 2), schema)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_cells_empty_for_missing_values_and_source_column():
    from seqcvae.io.records import SampleSchema

    schema = SampleSchema.for_run("smiles", ["LogP", "MolWt"], ["LogP"], source=True, target_index=True)
    invalid = _Rec(7, "C(", targets={"LogP": 2.5})
    assert schema.row(invalid, source="CCO", target_index=3) == [3, 7, "CCO", "C(", "", 0, "", "", "2.5"]
    text = SampleSchema.for_run("text", ["LogP"], ["sentiment"])
    assert text.columns() == ["index", "sequence", "target_sentiment"]
    assert text.row(_Rec(0, "good food", targets={"sentiment": "pos"})) == [0, "good food", "pos"]


def test_target_index_per_record(tmp_path):
    from seqcvae.io.records import write_records

    records = [_Rec(i, "CCO", "CCO", True, {"LogP": 0.5}, {"LogP": float(i)}) for i in range(3)]
    path = tmp_path / "s.csv"
    write_records(path, records, "smiles", ["LogP"], target_index=[0, 0, 1])
    lines = path.read_text().splitlines()
    assert lines[0] == "target_index,index,sequence,canonical_smiles,valid,LogP,target_LogP"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "0", "1"]
    with pytest.raises(ValueError, match="2 target indices for 3 records"):
        write_records(path, records, "smiles", ["LogP"], target_index=[0, 1])
