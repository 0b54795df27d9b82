"""TSV files with and without CSV-style quoting: a TSV written by Python's csv module or pandas
quotes fields with quotes (doubling them), tabs or line breaks; a hand-written TSV has no quoting,
and a sentence may start with a quote. Both read as the sentences that were written."""

from __future__ import annotations

import csv

import pytest

from seqcvae.data.tables import read_table

SENTENCES = [
    '"Great food," she said.',
    'the "best" pizza',
    "plain words",
    '"quoted whole"',
    "tab\tinside",
    'ends with a quote "',
]


def written(tmp_path, quoting) -> tuple[object, list[str]]:
    path = tmp_path / "t.tsv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", quoting=quoting)
        w.writerow(["tag", "text"])
        for i, s in enumerate(SENTENCES):
            w.writerow(["pos" if i % 2 else "neg", s])
    return path, SENTENCES


@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
def test_a_tsv_written_by_the_csv_module_reads_as_written(tmp_path, quoting):
    path, sentences = written(tmp_path, quoting)
    columns, rows = read_table(path, "text")
    assert columns == ["tag", "text"]
    assert [r["text"] for r in rows] == sentences


def test_a_tsv_written_by_pandas_reads_as_written(tmp_path):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "p.tsv"
    pd.DataFrame({"text": SENTENCES, "tag": ["a"] * len(SENTENCES)}).to_csv(path, sep="\t", index=False)
    _, rows = read_table(path, "text")
    assert [r["text"] for r in rows] == SENTENCES


def test_a_hand_written_tsv_keeps_its_quotes(tmp_path):
    """No quoting convention: a sentence that starts with a quote is that sentence."""
    raw = ['"Great food," she said.', '"Yes" and "no"', 'say ""hi""', '"whole"', "plain"]
    path = tmp_path / "h.tsv"
    path.write_text("tag\ttext\n" + "".join(f"x\t{s}\n" for s in raw), encoding="utf-8")
    _, rows = read_table(path, "text")
    assert [r["text"] for r in rows] == raw


def test_quoted_multiline_fields(tmp_path):
    path = tmp_path / "m.tsv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["text", "tag"])
        w.writerow(['line one\nline "two"', "a"])
        w.writerow(["simple", "b"])
    _, rows = read_table(path, "text")
    assert [r["text"] for r in rows] == ['line one\nline "two"', "simple"]
