"""Samples of the b4cbcff fixture checkpoints stay the same across refactors (tests/fixtures/README.md),
compared by content: the columns were renamed on purpose (`smiles` and `text` are `sequence` now,
io/records.py). golden_b4cbcff/ is what b4cbcff wrote; golden_i13/ was written after issue 13's
sampling fixes (rows seeded by (seed, row); beam search keeping K hypotheses), which changed sampled
and beam rows on purpose. Greedy output is unchanged since b4cbcff."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from seqcvae.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "golden_i13"
GOLDEN_B4CBCFF = FIXTURES / "golden_b4cbcff"
SMILES_RUN = FIXTURES / "ckpt_b4cbcff_smiles_tiny"
TEXT_RUN = FIXTURES / "ckpt_b4cbcff_text_tiny"
RENAMED = {"smiles": "sequence", "text": "sequence"}  # b4cbcff's name -> today's


def _table(path: Path, rename: dict[str, str] | None = None) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = [(rename or {}).get(c, c) for c in rows[0]]
    return header, rows[1:]


def _same_as_golden(written: Path, golden: str) -> None:
    header, rows = _table(written)
    folder = GOLDEN_B4CBCFF if golden == "generate_greedy.csv" else GOLDEN
    old_header, old_rows = _table(folder / golden, RENAMED)
    assert header == old_header
    # b4cbcff's SentencePiece decoding kept NUL bytes, which are dropped since f71b502
    old_rows = [[cell.replace("\x00", "") for cell in row] for row in old_rows]
    assert len(rows) == len(old_rows)
    for i, (row, old) in enumerate(zip(rows, old_rows)):
        assert row == old, f"{golden} row {i}"


SLOW = pytest.mark.slow  # ~10 s each: 300 SMILES checked with RDKit, 50 texts of 160 tokens
GENERATE = [
    pytest.param(
        SMILES_RUN,
        ["-c", "LogP=2.5", "-c", "MolWt=300", "--n", "300", "--seed", "3"],
        "generate_sample.csv",
        marks=SLOW,
        id="sample",
    ),
    pytest.param(SMILES_RUN, ["-c", "LogP=1", "--n", "20", "--greedy"], "generate_greedy.csv", id="greedy"),
    pytest.param(SMILES_RUN, ["-c", "LogP=1", "--n", "4", "--beam", "4"], "generate_beam.csv", id="beam"),
    pytest.param(
        TEXT_RUN,
        ["-c", "sentiment=pos", "--n", "50", "--seed", "1"],
        "generate_text.csv",
        marks=SLOW,
        id="text",
    ),
]


@pytest.mark.parametrize(("run", "args", "golden"), GENERATE)
def test_generate_samples_are_unchanged(run, args, golden, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert main(["generate", "--checkpoint", str(run), *args, "--out", str(out)]) == 0
    capsys.readouterr()
    _same_as_golden(out, golden)


def test_sweep_samples_are_unchanged(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["-t", "LogP=0:4:3", "--n", "50", "--no-plots", "--images", "0"]
    assert main(["sweep", "--checkpoint", str(SMILES_RUN), *args, "--out", str(out)]) == 0
    capsys.readouterr()
    _same_as_golden(out / "samples.csv", "sweep_samples.csv")
