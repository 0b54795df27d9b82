"""Novelty references: `generate --reference TABLE` and the run's own reference across RDKit versions."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import warnings
from pathlib import Path

import pytest
import rdkit
from rdkit import Chem

from seqcvae.cli import main
from seqcvae.evaluation.summary import summarise
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from tests.conftest import generate_these, read_sample


def _records(smiles: list[str]) -> list[Record]:
    """Checked records of given molecules (as if the model had generated them)."""
    return [
        Record(i, s, canonical=Chem.MolToSmiles(Chem.MolFromSmiles(s)), valid=True)
        for i, s in enumerate(smiles)
    ]


def _write_csv_gz(path: Path, rows: list[dict[str, str]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _random_form(smiles: str, seed: int) -> str:
    """A valid SMILES of the same molecule that is (usually) not RDKit's canonical form."""
    mol = Chem.MolFromSmiles(smiles)
    out: str = Chem.MolToRandomSmilesVect(mol, 1, randomSeed=seed)[0]
    return out


def test_reference_table_is_read_as_a_table(tmp_path):
    """A training CSV (header, several columns) as reference: training molecules are not novel."""
    rows = read_sample(300)
    ref = tmp_path / "train_head.csv.gz"
    _write_csv_gz(ref, rows)  # the shipped training file's format: SMILES,MolWt,LogP,...
    gen = Generator.load(Path(__file__).parent / "fixtures" / "ckpt_b4cbcff_smiles_tiny")
    records = _records([r["SMILES"] for r in rows[:50]])
    summary = summarise(gen, records, gen.reference_set(ref))
    assert summary["novelty"] == 0.0
    other = _records(["CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCO"])  # not in the file
    assert summarise(gen, other, gen.reference_set(ref))["novelty"] == 1.0


def test_generate_reference_is_canonicalised(tiny_run, tmp_path, capsys, monkeypatch):
    """--reference TABLE holding the generated molecules in non-canonical form: novelty 0 (not 1)."""
    molecules = [r["SMILES"] for r in read_sample(40)]
    generate_these(monkeypatch, molecules)
    forms = [_random_form(s, i) for i, s in enumerate(molecules)]
    assert sum(f != s for f, s in zip(forms, molecules)) > 20  # the file is not in canonical form
    ref = tmp_path / "ref.csv.gz"
    _write_csv_gz(ref, [{"SMILES": f, "note": "x"} for f in forms])
    args = ["generate", "--checkpoint", str(tiny_run), "--n", "40", "--json"]
    assert main([*args, "--reference", str(ref)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["validity"] == 1.0 and summary["novelty"] == 0.0
    plain = tmp_path / "ref.smi"
    plain.write_text("\n".join(forms[:20]) + "\n")  # one SMILES a line: half of them
    assert main([*args, "--reference", str(plain)]) == 0
    assert json.loads(capsys.readouterr().out)["novelty"] == pytest.approx(0.5)


def test_generate_reference_errors_are_one_line(tiny_run, tmp_path, capsys):
    bad = tmp_path / "ref.csv"
    bad.write_text("smiles,x\nCCO,1\n")
    rc = main(["generate", "--checkpoint", str(tiny_run), "--n", "4", "--reference", str(bad)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "has no column 'SMILES'" in err and "Traceback" not in err


def test_run_reference_records_the_rdkit_version(tiny_run):
    meta = json.loads((tiny_run / "reference_smiles.json").read_text(encoding="utf-8"))
    assert meta["rdkit"] == rdkit.__version__
    with gzip.open(tiny_run / "reference_smiles.txt.gz", "rt", encoding="utf-8") as fh:
        assert meta["molecules"] == sum(1 for _ in fh)


def _copy_run(tiny_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return run


def _reference_lines(run: Path) -> list[str]:
    with gzip.open(run / "reference_smiles.txt.gz", "rt", encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def test_reference_from_another_rdkit_is_recanonicalised(tiny_run, tmp_path):
    """A reference written by an RDKit with another canonical form is re-canonicalised (with a
    warning) so that training molecules do not count as novel."""
    run = _copy_run(tiny_run, tmp_path)
    canonical = _reference_lines(run)[:60]
    # Simulate the other RDKit: the same molecules, written in a form ours does not produce.
    older = [_random_form(s, i) for i, s in enumerate(canonical)]
    assert sum(o != c for o, c in zip(older, canonical)) > 30
    with gzip.open(run / "reference_smiles.txt.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(s + "\n" for s in older)
    (run / "reference_smiles.json").write_text(json.dumps({"rdkit": "2019.03.1", "molecules": 60}))
    gen = Generator.load(run)
    with pytest.warns(UserWarning, match=r"2019\.03\.1"):
        summary = summarise(gen, _records(canonical))
    assert summary["novelty"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per generator
        summarise(gen, _records(canonical))
    # A later load reuses the re-canonicalised copy kept next to the original (same answer).
    again = Generator.load(run)
    with pytest.warns(UserWarning, match="re-canonicalised"):
        assert again.reference_set() == set(canonical)


def test_old_run_without_the_record_warns_once(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path)
    (run / "reference_smiles.json").unlink(missing_ok=True)
    canonical = _reference_lines(run)[:20]
    gen = Generator.load(run)
    with pytest.warns(UserWarning, match="does not record"):
        assert summarise(gen, _records(canonical))["novelty"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert summarise(gen, _records(canonical))["novelty"] == 0.0


def test_write_reference_failing_midway_keeps_the_previous_pair(tmp_path):
    """The reference is written atomically (seqcvae.io.atomic): a write that fails leaves the
    previous file and its record as they were, and no temporary."""
    from seqcvae.recipes.train import write_reference

    write_reference(tmp_path, ["C", "CC"])

    def failing():
        yield "CCC"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_reference(tmp_path, failing())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference_smiles.json", "reference_smiles.txt.gz"]
    assert _reference_lines(tmp_path) == ["C", "CC"]
    assert json.loads((tmp_path / "reference_smiles.json").read_text(encoding="utf-8"))["molecules"] == 2
