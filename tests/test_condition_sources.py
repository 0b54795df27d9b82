"""Where each continuous condition's training values came from (RDKit or the data file), and how
generated molecules are scored against them."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from seqcvae.cli import main
from seqcvae.generation.generator import Generator
from tests.conftest import generate_these, read_sample

FIXTURE = Path(__file__).parent / "fixtures" / "ckpt_b4cbcff_smiles_tiny"


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A tiny run on a file whose LogP column is minus RDKit's LogP, whose TPSA column is RDKit's,
    with a pIC50 column measured elsewhere, and no MolWt column (so seqcvae computes it)."""
    from seqcvae.config import load_config
    from seqcvae.recipes.train import train

    tmp = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    path = tmp / "mixed.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["SMILES", "LogP", "TPSA", "pIC50"])
        for r in read_sample(400):
            w.writerow([r["SMILES"], -float(r["LogP"]), r["TPSA"], f"{rng.normal(6, 1):.3f}"])
    overrides = [
        f"data.train_path={path}",
        'data.properties=["LogP", "MolWt", "TPSA", "pIC50"]',
        "data.limit=0",
        "train.max_steps=4",
    ]
    lines: list[str] = []
    run = train(load_config("smiles_tiny", overrides), tmp / "run", log=lines.append, progress=False)
    return run, lines


def test_sources_are_recorded_in_the_checkpoint(mixed_run):
    run, _ = mixed_run
    conditions = json.loads((run / "checkpoints" / "best" / "conditions.json").read_text())
    sources = {c["name"]: c["source"] for c in conditions["continuous"]}
    assert sources == {"LogP": "file", "MolWt": "rdkit", "TPSA": "file", "pIC50": "file"}


def test_training_warns_when_a_file_column_disagrees_with_rdkit(mixed_run):
    _, lines = mixed_run
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1, lines  # LogP only: TPSA agrees, MolWt is RDKit's, pIC50 has no RDKit measure
    assert "'LogP'" in warnings[0] and "Spearman" in warnings[0] and "RDKit" in warnings[0]


def test_generate_labels_how_each_property_is_measured(mixed_run, capsys, monkeypatch):
    run, _ = mixed_run
    molecules = [r["SMILES"] for r in read_sample(30)]
    generate_these(monkeypatch, molecules)
    args = ["generate", "--checkpoint", str(run), "--n", "30", "-c", "LogP=-2", "-c", "MolWt=300"]
    assert main([*args, "-c", "TPSA=60", "-c", "pIC50=7"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "LogP (RDKit; trained on file values)" in out
    assert "TPSA (RDKit; trained on file values)" in out
    assert "MolWt (RDKit)" in out
    assert "pIC50" in rows and "cannot be measured" in rows["pIC50"]
    assert main([*args, "-c", "pIC50=7", "--json"]) == 0
    props = json.loads(capsys.readouterr().out)["properties"]
    assert props["LogP"]["trained_on"] == "file" and props["LogP"]["measured_by"] == "RDKit"
    assert props["MolWt"]["trained_on"] == "rdkit" and props["MolWt"]["measured_by"] == "RDKit"
    assert props["pIC50"]["measured_by"] is None and props["pIC50"]["n"] == 0
    assert props["pIC50"]["target_mean"] == 7.0 and props["pIC50"]["mae"] is None
    # the measurement itself is RDKit's: LogP of the molecules, not the file's minus LogP
    true_logp = np.mean([float(r["LogP"]) for r in read_sample(30)])
    assert props["LogP"]["measured_mean"] == pytest.approx(true_logp, abs=1e-3)


def _old_checkpoint(tmp_path: Path, train_path: str) -> Path:
    ckpt = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    config["data"]["train_path"] = train_path
    (ckpt / "config.json").write_text(json.dumps(config))
    return ckpt


def test_old_checkpoint_sources_inferred_from_the_training_file(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text("SMILES,LogP\nCCO,-0.0014\n")  # LogP from the file, MolWt computed
    gen = Generator.load(_old_checkpoint(tmp_path, str(table)))
    assert gen.condition_sources == {"LogP": "file", "MolWt": "rdkit"}
    assert any("inferred" in n and str(table) in n for n in gen.notes)


def test_old_checkpoint_without_its_training_file_says_so(tmp_path, capsys, monkeypatch):
    ckpt = _old_checkpoint(tmp_path, str(tmp_path / "gone.csv"))
    gen = Generator.load(ckpt)
    assert gen.condition_sources == {"LogP": None, "MolWt": None}
    molecules = [r["SMILES"] for r in read_sample(10)]
    generate_these(monkeypatch, molecules)
    assert main(["generate", "--checkpoint", str(ckpt), "--n", "10", "-c", "LogP=2"]) == 0
    captured = capsys.readouterr()
    assert "LogP (RDKit; training values' source not recorded)" in captured.out
    assert "not recorded" in captured.err and "gone.csv" in captured.err
