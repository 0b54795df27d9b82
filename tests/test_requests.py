"""`seqcvae generate --requests FILE`: one target per row of a CSV/TSV or TOML file, every sample
carrying its request's target_index, a summary line per request; -c values under every row; bad
files as one-line errors. And the progress bars of generate and sweep (stderr, terminals only)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from seqcvae.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SMILES_RUN = FIXTURES / "ckpt_b4cbcff_smiles_tiny"  # conditions LogP, MolWt
TEXT_RUN = FIXTURES / "ckpt_b4cbcff_text_tiny"  # tags sentiment, domain


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def _generate(run: Path, *args: str) -> int:
    return main(["generate", "--checkpoint", str(run), "--workers", "0", *args])


def test_csv_requests_end_to_end(molecules, tmp_path, capsys):
    from seqcvae.chem.properties import analyse_smiles

    req = tmp_path / "ramp.csv"
    req.write_text("LogP,MolWt,n\n0.5,,3\n1.5,300,\n,250:350,2\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert _generate(SMILES_RUN, "--requests", str(req), "--n", "4", "--out", str(out)) == 0
    text = capsys.readouterr().out
    rows = _rows(out)
    # per-row n (3, the default --n 4, 2), drawn in one mixed batch, in request order
    assert [int(r["target_index"]) for r in rows] == [0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert [int(r["index"]) for r in rows] == [0, 1, 2, 0, 1, 2, 3, 0, 1]  # counted per request
    assert [r["sequence"] for r in rows] == molecules[:9]
    assert list(rows[0])[:2] == ["target_index", "index"]
    assert [(r["target_LogP"], r["target_MolWt"]) for r in rows] == [
        *[("0.5", "")] * 3,
        *[("1.5", "300")] * 4,
        *[("", "300")] * 2,  # a range is conditioned at its midpoint; the empty cell is free
    ]
    lines = [x for x in text.splitlines() if x.startswith("request ")]
    assert len(lines) == 3
    assert lines[0].startswith("request 0 LogP=0.5: n 3, validity 1.000, LogP MAE ")
    assert lines[1].startswith("request 1 LogP=1.5 MolWt=300: n 4, validity 1.000, LogP MAE ")
    assert lines[2].startswith("request 2 MolWt=250:350: n 2, validity 1.000, MolWt MAE ")
    assert "generated 9" in text and "wrote 9 rows" in text  # the overall summary is still there

    assert _generate(SMILES_RUN, "--requests", str(req), "--n", "4", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["generated"] == 9
    per = summary["requests"]
    assert [r["target_index"] for r in per] == [0, 1, 2] and [r["n"] for r in per] == [3, 4, 2]
    assert per[2]["ranges"] == {"MolWt": [250.0, 350.0]} and per[2]["targets"] == {"MolWt": 300.0}
    measured = [analyse_smiles(s, ["LogP", "MolWt"])[1] for s in molecules[:9]]
    logp = np.array([m["LogP"] for m in measured[3:7]])
    assert per[1]["LogP_mae"] == pytest.approx(np.abs(logp - 1.5).mean(), rel=1e-6)
    tol = per[1]["tolerance"]["LogP"]  # the default: 5% of the training range
    assert per[1]["LogP_hit_rate"] == pytest.approx(np.mean(np.abs(logp - 1.5) <= tol))
    molwt = np.array([m["MolWt"] for m in measured[7:9]])
    assert per[2]["tolerance"] == {"MolWt": 50.0}  # a range: inside it
    assert per[2]["MolWt_hit_rate"] == pytest.approx(np.mean((molwt >= 250) & (molwt <= 350)))
    assert "LogP_mae" not in per[2] and "MolWt_mae" not in per[0]  # free conditions are not scored


def test_a_one_row_file_gives_the_samples_of_c(tmp_path, capsys):
    """The same draw as -c (same seed, same rows): requests only add the target_index column."""
    req = tmp_path / "one.csv"
    req.write_text("LogP,MolWt\n1.5,300\n", encoding="utf-8")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    common = ["--n", "6", "--seed", "4", "--batch-size", "4"]
    assert _generate(SMILES_RUN, "--requests", str(req), *common, "--out", str(a)) == 0
    assert _generate(SMILES_RUN, "-c", "LogP=1.5", "-c", "MolWt=300", *common, "--out", str(b)) == 0
    capsys.readouterr()
    with_index = _rows(a)
    assert [r.pop("target_index") for r in with_index] == ["0"] * 6
    assert with_index == _rows(b)


def test_toml_requests_with_tags(tmp_path, capsys):
    req = tmp_path / "styles.toml"
    req.write_text(
        '[[request]]\nsentiment = "pos"\nn = 2\n\n[[request]]\nsentiment = "neg"\ndomain = "tweet"\n',
        encoding="utf-8",
    )
    out = tmp_path / "texts.tsv"
    argv = ["--requests", str(req), "--n", "3", "--greedy", "--out", str(out)]
    assert _generate(TEXT_RUN, *argv) == 0
    text = capsys.readouterr().out
    rows = _rows(out, "\t")
    assert list(rows[0]) == ["target_index", "index", "sequence", "target_domain", "target_sentiment"]
    assert [(r["target_index"], r["target_sentiment"], r["target_domain"]) for r in rows] == [
        ("0", "pos", ""),
        ("0", "pos", ""),
        ("1", "neg", "tweet"),
        ("1", "neg", "tweet"),
        ("1", "neg", "tweet"),
    ]
    assert "request 0 sentiment=pos: n 2, uniqueness" in text
    assert "request 1 sentiment=neg domain=tweet: n 3, uniqueness" in text


def test_c_values_apply_to_every_row_that_does_not_set_them(molecules, tmp_path, capsys):
    req = tmp_path / "r.toml"
    req.write_text('[[request]]\nLogP = 1\n\n[[request]]\nMolWt = "260:280"\n\n[[request]]\n')
    out = tmp_path / "o.csv"
    argv = ["--requests", str(req), "-c", "LogP=2", "-c", "MolWt=300", "--n", "1", "--out", str(out)]
    assert _generate(SMILES_RUN, *argv) == 0
    capsys.readouterr()
    got = [(r["target_index"], r["target_LogP"], r["target_MolWt"]) for r in _rows(out)]
    assert got == [("0", "1", "300"), ("1", "2", "270"), ("2", "2", "300")]


def test_parquet_and_smi_carry_the_target_index(molecules, tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    req = tmp_path / "r.tsv"
    req.write_text("LogP\tn\n1\t2\n2\t1\n", encoding="utf-8")
    for ext in ("parquet", "smi"):
        assert _generate(SMILES_RUN, "--requests", str(req), "--out", str(tmp_path / f"o.{ext}")) == 0
    capsys.readouterr()
    table = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert [(r["target_index"], r["index"], r["target_LogP"]) for r in table] == [
        (0, 0, 1.0),
        (0, 1, 1.0),
        (1, 0, 2.0),
    ]
    lines = (tmp_path / "o.smi").read_text().splitlines()
    assert [line.split("\t")[1:] for line in lines] == [["0", "0"], ["1", "0"], ["0", "1"]]


def test_hits_per_request(molecules, tmp_path, capsys):
    from seqcvae.chem.properties import analyse_smiles

    req = tmp_path / "r.csv"
    req.write_text("MolWt,n\n250:300,\n300:350,2\n", encoding="utf-8")
    out = tmp_path / "hits.csv"
    assert _generate(SMILES_RUN, "--requests", str(req), "--hits", "3", "--out", str(out), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    rows = _rows(out)
    assert [r["target_index"] for r in rows] == ["0"] * 3 + ["1"] * 2  # --hits 3, the row's n 2
    for r in rows:
        low = 250 if r["target_index"] == "0" else 300
        assert low <= analyse_smiles(r["sequence"], ["MolWt"])[1]["MolWt"] <= low + 50
    per = summary["requests"]
    assert [r["hits"]["hits"] for r in per] == [3, 2] and all(r["hits"]["complete"] for r in per)
    assert per[0]["MolWt_hit_rate"] == pytest.approx(3 / per[0]["hits"]["samples"])
    assert summary["hits"]["hits"] == 5 and summary["hits"]["wanted"] == 5


def test_a_request_short_of_hits_fails_in_one_line_and_keeps_the_hits(molecules, tmp_path, capsys):
    req = tmp_path / "r.csv"
    req.write_text("MolWt\n250:350\n5000:6000\n", encoding="utf-8")
    out = tmp_path / "hits.csv"
    argv = ["--requests", str(req), "--hits", "2", "--max-samples", "50", "--out", str(out)]
    assert _generate(SMILES_RUN, *argv) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 1 and "1 of 2 requests" in err[0] and "target_index 1: 0 of 2 hits" in err[0]
    assert [r["target_index"] for r in _rows(out)] == ["0", "0"]


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("r.csv", "LogP,logp\n1,2\n", ["r.csv", "'logp'", "LogP, MolWt"]),
        ("r.csv", "LogP,MolWt\n1,300\n2,abc\n", ["r.csv", "row 2 (target_index 1)", "MolWt='abc'", "range"]),
        ("r.csv", "MolWt\n350:250\n", ["row 1", "MolWt='350:250'", "low end"]),
        ("r.csv", "LogP,n\n1,0\n", ["row 1", "n='0'", "positive whole number"]),
        ("r.csv", "LogP,n\n1,5\n1,abc\n", ["row 2", "n='abc'"]),
        ("r.csv", "LogP,n\n1,2.5\n", ["row 1", "n='2.5'"]),
        ("r.csv", "", ["r.csv", "empty"]),
        ("r.csv", "LogP,MolWt\n", ["r.csv", "no rows"]),
        ("r.csv", "LogP,LogP\n1,2\n", ["'LogP' appears twice"]),
        ("r.tsv", "LogP,MolWt\n1,300\n", ["r.tsv", "tabs"]),
        ("r.txt", "LogP\n1\n", ["r.txt", "'.txt'", ".toml"]),
        ("r.toml", "", ["r.toml", "no [[request]]"]),
        ("r.toml", "[[request]]\nLogP = true\n", ["[[request]] 1 (target_index 0)", "LogP=True"]),
        ("r.toml", "[[request]]\nLogP = 1\n[[request]]\nn = -3\n", ["[[request]] 2", "n=-3"]),
        ("r.toml", "[[request]]\nLogP = 'x'\n", ["[[request]] 1", "LogP='x'"]),
        ("r.toml", "LogP = 1\n", ["unknown key 'LogP'"]),
        ("r.toml", "[[request]\n", ["not valid TOML"]),
    ],
)
def test_bad_request_files_are_one_line_errors(tmp_path, capsys, name, content, needles):
    req = tmp_path / name
    req.write_text(content, encoding="utf-8")
    assert _generate(SMILES_RUN, "--requests", str(req), "--n", "2") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--requests", "missing.csv"], ["missing.csv", "does not exist"]),
        (["-c", "LogP=abc"], ["LogP='abc'"]),  # a bad -c value is about -c, not a row
        (["--hits", "2", "--tolerance", "MolWt=5"], ["--tolerance MolWt=5", "no request sets MolWt"]),
        (["--hits", "2", "--tolerance", "QED=5"], ["QED"]),
    ],
)
def test_bad_options_with_requests_are_one_line_errors(tmp_path, capsys, args, needles):
    req = tmp_path / "r.csv"
    req.write_text("LogP\n1\n", encoding="utf-8")
    assert _generate(SMILES_RUN, "--requests", str(req), *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "row" not in err and all(needle in err for needle in needles), err


def test_read_requests_parses_values_as_c_does(tmp_path):
    from seqcvae.data.requests import read_requests

    req = tmp_path / "r.tsv"
    req.write_text("LogP \t sentiment\tn\n2.5\tpos\t7\n\t5\t\n", encoding="utf-8")
    file = read_requests(req)
    assert file.columns == ["LogP", "sentiment"]
    assert [(r.given, r.n) for r in file.rows] == [
        ({"LogP": 2.5, "sentiment": "pos"}, 7),
        ({"sentiment": 5.0}, None),
    ]


# --- progress bars ----------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_on_a_terminal_only(molecules, tmp_path, capsys, monkeypatch):
    from seqcvae.recipes.generate import generate

    req = tmp_path / "r.csv"
    req.write_text("LogP,n\n1,3\n2,3\n", encoding="utf-8")
    assert _generate(SMILES_RUN, "--requests", str(req)) == 0
    assert "generate:" not in capsys.readouterr().err  # not a terminal: no bar
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert _generate(SMILES_RUN, "--requests", str(req)) == 0
    assert "generate: " in terminal.getvalue() and "/6 [" in terminal.getvalue()  # samples drawn
    terminal.seek(0)
    terminal.truncate()
    assert _generate(SMILES_RUN, "--requests", str(req), "--no-progress") == 0
    generate(SMILES_RUN, {}, n=2, workers=0, warn=lambda _: None)  # the library is quiet
    assert "generate:" not in terminal.getvalue()
    sweep = ["sweep", "--checkpoint", str(SMILES_RUN), "-t", "LogP=1,2", "--n", "2", "--images", "0"]
    assert main([*sweep, "--no-plots", "--out", str(tmp_path / "sweep")]) == 0
    assert "sweep: " in terminal.getvalue() and "/2 [" in terminal.getvalue()  # targets done


def test_evaluate_shows_its_stage_and_samples_on_a_terminal(tmp_path, capsys, monkeypatch):
    data = tmp_path / "held.csv"
    data.write_text("SMILES\nCCO\nc1ccccc1O\nCC(=O)Nc1ccccc1\n", encoding="utf-8")
    argv = ["evaluate", "--checkpoint", str(SMILES_RUN), "--data", str(data), "--n", "40", "--no-fcd"]
    argv += ["--workers", "1", "--k", "2"]
    assert main(argv) == 0
    assert "evaluate:" not in capsys.readouterr().err  # not a terminal: no bar
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(argv) == 0
    shown = terminal.getvalue()
    assert "evaluate: diagnostics on 3 held-out sequences" in shown
    assert "evaluate: sampling" in shown and "/40 [" in shown
    assert "evaluate: MOSES metrics" in shown
    terminal.seek(0)
    terminal.truncate()
    assert main([*argv, "--no-progress"]) == 0
    assert "evaluate:" not in terminal.getvalue()
