"""Sample files by extension: CSV, TSV, Parquet, SDF and .smi hold the same records (the molecule
formats: the valid ones); an unknown extension is an error before any work, never a silent CSV."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from seqcvae.cli import main

MODEL = "pretrained:moses-latent"  # about 90% of its samples are valid: both cases occur


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """The same 30 samples written in every format."""
    folder = tmp_path_factory.mktemp("formats")
    for ext in ("csv", "tsv", "parquet", "sdf", "smi"):
        argv = ["generate", "--checkpoint", MODEL, "-c", "LogP=2", "--n", "30", "--seed", "3"]
        assert main([*argv, "--out", str(folder / f"s.{ext}")]) == 0
    with open(folder / "s.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return folder, rows


def test_tsv_holds_the_csv_rows(samples):
    folder, rows = samples
    with open(folder / "s.tsv", newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh, delimiter="\t")) == rows


def test_parquet_holds_the_same_records_typed(samples):
    pq = pytest.importorskip("pyarrow.parquet")
    folder, rows = samples
    table = pq.read_table(folder / "s.parquet").to_pylist()
    assert [r["sequence"] for r in table] == [r["sequence"] for r in rows]
    assert [r["valid"] for r in table] == [int(r["valid"]) for r in rows]
    assert all(isinstance(r["index"], int) for r in table)
    for got, want in zip(table, rows):
        if want["LogP"]:
            assert got["LogP"] == pytest.approx(float(want["LogP"]), rel=1e-5)
        else:
            assert got["LogP"] is None
        assert got["target_LogP"] == 2.0


def test_sdf_and_smi_hold_the_valid_molecules(samples):
    from rdkit import Chem

    folder, rows = samples
    valid = [r for r in rows if r["valid"] == "1"]
    assert 0 < len(valid) < len(rows)  # the tiny model writes some invalid SMILES: the case is tested
    mols = list(Chem.SDMolSupplier(str(folder / "s.sdf")))
    assert [Chem.MolToSmiles(m) for m in mols] == [r["canonical_smiles"] for r in valid]
    assert [m.GetProp("index") for m in mols] == [r["index"] for r in valid]
    assert float(mols[0].GetProp("LogP")) == pytest.approx(float(valid[0]["LogP"]), rel=1e-5)
    lines = (folder / "s.smi").read_text().splitlines()
    assert lines == [f"{r['canonical_smiles']}\t{r['index']}" for r in valid]


def test_the_generate_summary_says_what_a_molecule_file_left_out(tiny_run, tmp_path, capsys):
    argv = [
        "generate",
        "--checkpoint",
        str(tiny_run),
        "--n",
        "30",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "m.sdf"),
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "invalid samples are not in it" in err
    molecules = (tmp_path / "m.sdf").read_text().count("$$$$")
    assert molecules < 30
    assert f"wrote {molecules} rows to " in out  # the rows in the file, not the samples drawn


@pytest.mark.parametrize(
    "command",
    [
        ["neighbours", "--checkpoint", MODEL, "--smiles", "CCOc1ccccc1", "--n", "20", "--radius", "16"],
        ["generate", "--checkpoint", MODEL, "--n", "20", "--temperature", "2"],
    ],
)
def test_every_command_counts_the_rows_a_molecule_file_holds(command, tmp_path, capsys):
    path = tmp_path / "m.smi"
    assert main([*command, "--seed", "1", "--out", str(path)]) == 0
    rows = len(path.read_text().splitlines())
    assert 0 < rows < 20  # some samples were invalid: the case is tested
    out = capsys.readouterr().out
    assert f"wrote {rows} rows to {path}" in out
    assert f"({20 - rows} invalid left out" in out


@pytest.mark.parametrize("name", ["x.parquett", "x.txt", "x", "x.json"])
def test_an_unknown_extension_is_refused_before_sampling(tiny_run, tmp_path, name):
    out = tmp_path / name
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "seqcvae",
            "generate",
            "--checkpoint",
            str(tiny_run),
            "--n",
            "2",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown extension" in proc.stderr and ".parquet" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


def test_a_text_run_refuses_molecule_formats(tmp_path, capsys):
    text_run = Path(__file__).parent / "fixtures" / "ckpt_b4cbcff_text_tiny"
    out = tmp_path / "t.sdf"
    assert main(["generate", "--checkpoint", str(text_run), "--n", "2", "--out", str(out)]) == 2
    assert "holds molecules" in capsys.readouterr().err and not out.exists()
