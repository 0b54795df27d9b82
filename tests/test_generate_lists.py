"""`generate -c NAME=V1,V2,...`: one request per value (their product for several lists), as the
rows of a request file; for a text run each tag's requests show examples, distinct-n and the style
accuracy the run's classifier gives them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from seqcvae.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SMILES_RUN = FIXTURES / "ckpt_b4cbcff_smiles_tiny"  # conditions LogP, MolWt
TEXT_RUN = FIXTURES / "ckpt_b4cbcff_text_tiny"  # tags sentiment, domain


def _generate(run: Path, *args: str) -> int:
    return main(["generate", "--checkpoint", str(run), "--workers", "0", *args])


class AlwaysPositive:
    """A style classifier that calls every text positive."""

    models = {"sentiment": object()}

    def accuracy(self, texts, tags):
        return {name: sum(v == "pos" for v in labels) / len(labels) for name, labels in tags.items()}


@pytest.fixture
def always_positive(monkeypatch):
    asked = []

    def fit(gen, tags=None):
        asked.append(list(tags or []))
        return AlwaysPositive()

    monkeypatch.setattr("seqcvae.recipes.generate.summary.fit_style_classifier", fit)
    return asked


def test_a_list_of_values_is_one_request_each(molecules, tmp_path, capsys):
    out = tmp_path / "ramp.csv"
    assert _generate(SMILES_RUN, "-c", "LogP=1,2", "-c", "MolWt=300", "--n", "3", "--out", str(out)) == 0
    text = capsys.readouterr().out
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["target_index"], r["target_LogP"], r["target_MolWt"]) for r in rows] == [
        ("0", "1", "300"),
        ("0", "1", "300"),
        ("0", "1", "300"),
        ("1", "2", "300"),
        ("1", "2", "300"),
        ("1", "2", "300"),
    ]
    assert "request 0 MolWt=300 LogP=1: n 3" in text and "request 1 MolWt=300 LogP=2: n 3" in text


def test_several_lists_give_their_product(molecules, capsys):
    assert _generate(SMILES_RUN, "-c", "LogP=1,2", "-c", "MolWt=250,350", "--n", "1", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert [r["targets"] for r in summary["requests"]] == [
        {"LogP": 1.0, "MolWt": 250.0},
        {"LogP": 1.0, "MolWt": 350.0},
        {"LogP": 2.0, "MolWt": 250.0},
        {"LogP": 2.0, "MolWt": 350.0},
    ]


def test_text_by_tag_shows_examples_distinct_n_and_accuracy(always_positive, capsys):
    assert _generate(TEXT_RUN, "-c", "sentiment=pos,neg", "--n", "4", "--greedy") == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    first = next(i for i, x in enumerate(lines) if x.startswith("request 0 sentiment=pos: n 4"))
    assert "distinct-1" in lines[first] and "sentiment accuracy 1" in lines[first]
    assert all(x.startswith("  ") for x in lines[first + 1 : first + 4])  # three examples
    second = next(x for x in lines if x.startswith("request 1 sentiment=neg: n 4"))
    assert "sentiment accuracy 0" in second
    assert always_positive == [["sentiment"]]  # one classifier, for the tags asked


def test_one_tag_reports_its_accuracy(always_positive, capsys):
    assert _generate(TEXT_RUN, "-c", "sentiment=neg", "--n", "3", "--greedy", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["style_accuracy"] == {"sentiment": 0.0}


def test_no_tag_no_classifier(always_positive, capsys):
    assert _generate(TEXT_RUN, "--n", "2", "--greedy") == 0
    assert always_positive == []


@pytest.mark.parametrize(
    "args, needles",
    [
        (["-c", "LogP=1,"], ["-c LogP=1,", "empty value"]),
        (["-c", "LogP=1,abc"], ["-c LogP=abc", "target_index 1", "number"]),
        (["-c", "Nope=1,2"], ["-c Nope", "not a condition"]),
    ],
)
def test_bad_lists_are_one_line_errors(args, needles, capsys):
    assert _generate(SMILES_RUN, *args, "--n", "2") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    for needle in needles:
        assert needle in err


def test_a_list_and_a_request_file_together_is_an_error(tmp_path, capsys):
    req = tmp_path / "r.csv"
    req.write_text("MolWt\n300\n", encoding="utf-8")
    assert _generate(SMILES_RUN, "-c", "LogP=1,2", "--requests", str(req)) == 2
    err = capsys.readouterr().err
    assert "--requests together" in err or "and --requests" in err
