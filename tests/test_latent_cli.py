"""The latent-space commands end to end, on the tiny overfit model (conftest.overfit_run)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from seqcvae.cli import main

pytestmark = pytest.mark.chem


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_encode_writes_npy_npz_and_csv(overfit_run, tmp_path, capsys):
    run, mols = overfit_run
    for name in ("z.npy", "z.npz", "z.csv"):
        out = tmp_path / name
        assert (
            main(
                [
                    "encode",
                    "--checkpoint",
                    str(run),
                    "--smiles",
                    mols[0],
                    "--smiles",
                    mols[1],
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        assert "encoded 2 molecules into 16 latent dimensions" in capsys.readouterr().out
    assert np.load(tmp_path / "z.npy").shape == (2, 2, 16)
    npz = np.load(tmp_path / "z.npz")
    assert npz["mean"].shape == (2, 16) and (npz["variance"] > 0).all() and list(npz["smiles"]) == mols[:2]
    assert np.allclose(np.load(tmp_path / "z.npy")[:, 0], npz["mean"])
    rows = _rows(tmp_path / "z.csv")
    assert [r["smiles"] for r in rows] == mols[:2] and "mean_15" in rows[0] and "var_0" in rows[0]


def test_reconstruct_reports_exact_reconstruction(overfit_run, tmp_path, capsys):
    run, mols = overfit_run
    inp = tmp_path / "in.csv"
    inp.write_text("name,SMILES\n" + "".join(f"m{i},{s}\n" for i, s in enumerate(mols[:10])) + "x,C1CC\n")
    out = tmp_path / "rec.csv"
    assert (
        main(["reconstruct", "--checkpoint", str(run), "--input", str(inp), "--out", str(out), "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["reconstruction"] == 1.0 and report["molecules"] == 10 and report["skipped"] == 1
    rows = _rows(out)
    assert [r["source"] for r in rows] == mols[:10] and all(r["match"] == "1" for r in rows)
    assert list(rows[0])[:5] == ["index", "source", "match", "similarity", "sequence"]


def test_neighbours_and_interpolate(overfit_run, tmp_path, capsys):
    run, mols = overfit_run
    out = tmp_path / "nb.csv"
    args = [
        "neighbours",
        "--checkpoint",
        str(run),
        "--smiles",
        mols[2],
        "--n",
        "4",
        "--radius",
        "0",
        "--radius",
        "2",
    ]
    assert main([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "radius" in text and "wrote 8 rows" in text
    rows = _rows(out)
    assert {r["radius"] for r in rows} == {"0", "2"} and all(r["source"] == mols[2] for r in rows)
    assert all(r["canonical_smiles"] == rows[0]["canonical_smiles"] for r in rows[:4])
    path_out = tmp_path / "path.csv"
    args = [
        "interpolate",
        mols[0],
        mols[1],
        "--checkpoint",
        str(run),
        "--steps",
        "5",
        "--method",
        "spherical",
    ]
    assert main([*args, "--out", str(path_out)]) == 0
    assert "ends decode to A: yes, to B: yes" in capsys.readouterr().out
    rows = _rows(path_out)
    assert [r["step"] for r in rows] == ["0", "1", "2", "3", "4"] and rows[0]["similarity_a"] == "1"


def test_optimize_writes_only_molecules_above_the_floor(overfit_run, tmp_path, capsys):
    run, mols = overfit_run
    out = tmp_path / "opt.csv"
    args = [
        "optimize",
        "--checkpoint",
        str(run),
        "--smiles",
        mols[0],
        "--smiles",
        mols[5],
        "--shift",
        "LogP=0.5",
    ]
    assert main([*args, "--min-similarity", "0.3", "--budget", "30", "--out", str(out)]) == 0
    assert "2 seeds: success" in capsys.readouterr().out
    rows = _rows(out)
    assert all(float(r["similarity"]) >= 0.3 for r in rows)
    assert {r["source"] for r in rows} <= {mols[0], mols[5]}


def test_optimize_shows_its_proposals_on_a_terminal(overfit_run, tmp_path, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    run, mols = overfit_run
    args = ["optimize", "--checkpoint", str(run), "--smiles", mols[0], "--shift", "LogP=0.5"]
    args += ["--budget", "10"]
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(args) == 0
    assert "optimize: " in terminal.getvalue() and "/10 [" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    assert main([*args, "--no-progress"]) == 0
    assert "optimize:" not in terminal.getvalue()


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["encode", "--smiles", "C1CC", "--out", "{tmp}/z.npy"],
            "seed 'C1CC' is not a SMILES that RDKit can read",
        ),
        (["encode", "--smiles", "CCO", "--out", "{tmp}/z.parquet"], "expected a file ending in .npy"),
        (["encode", "--out", "{tmp}/z.npy"], "give molecules with --smiles"),
        (["neighbours", "--smiles", "C" * 150], "tokens long; this model reads at most"),
        (["neighbours", "--smiles", "CCO", "--radius", "-1"], "--radius -1.0: expected a distance >= 0"),
        (["interpolate", "CCO", "CCN", "--steps", "1"], "--steps 1: a path needs at least 2 points"),
        (["optimize", "--smiles", "CCO"], "give at least one goal"),
        (
            ["optimize", "--smiles", "CCO", "-c", "pIC50=3"],
            "'pIC50' is not a property this model is conditioned on",
        ),
        (["optimize", "--smiles", "CCO", "-c", "LogP=high"], "goal LogP='high': expected a number"),
        (
            ["optimize", "--smiles", "CCO", "--shift", "LogP=1", "--min-similarity", "2"],
            "--min-similarity 2.0",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(overfit_run, tmp_path, capsys, args, needle):
    run, _ = overfit_run
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    argv = [args[0], "--checkpoint", str(run), *args[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())
