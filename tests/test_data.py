import gzip

import pytest

from seqcvae.config import DataConfig
from seqcvae.data.prepare import prepare_table as prepare_smiles
from seqcvae.errors import DataError


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_invalid_and_empty_rows_are_skipped_and_counted(tmp_path):
    p = _write(tmp_path, "t.csv", "SMILES,LogP\nCCO,0.1\nC1CC,1.0\n,2\nCCN,nan\nc1ccccc1,2.0\nCCX,1\n")
    data = prepare_smiles(p, DataConfig(properties=["LogP"], max_skip_fraction=0.9))
    assert data.sequences == ["CCO", "c1ccccc1"]
    assert dict(data.skipped) == {
        "invalid_smiles": 1,
        "empty": 1,
        "missing_LogP": 1,
        "untokenizable": 1,
    }
    assert "2 of 6 rows kept" in data.skip_summary()


def test_properties_computed_when_columns_absent(tmp_path):
    p = _write(tmp_path, "t.smi", "CCO ethanol\nc1ccccc1O\n")
    data = prepare_smiles(p, DataConfig(properties=["MolWt"]))
    assert data.columns["MolWt"][0] == pytest.approx(46.069, abs=1e-3)


def test_too_many_bad_rows_fail(tmp_path):
    p = _write(tmp_path, "t.csv", "SMILES\nC1CC\nC1CC\nCCO\n")
    with pytest.raises(DataError, match="max_skip_fraction"):
        prepare_smiles(p, DataConfig(properties=[]))


def test_too_long_drop_or_truncate(tmp_path):
    p = _write(tmp_path, "t.csv", "SMILES\nCCCCCCCC\nCCO\n")
    data = prepare_smiles(p, DataConfig(properties=[], max_length=4, max_skip_fraction=0.5))
    assert data.sequences == ["CCO"] and data.skipped["too_long"] == 1
    data = prepare_smiles(p, DataConfig(properties=[], max_length=4, too_long="truncate"))
    assert data.sequences == ["CCCC", "CCO"]


def test_missing_column_names_the_columns(tmp_path):
    p = _write(tmp_path, "t.csv", "smiles,LogP\nCCO,1\n")
    with pytest.raises(DataError, match="'SMILES'.*smiles, LogP"):
        prepare_smiles(p, DataConfig(properties=["LogP"]))


def test_unknown_property_without_column(tmp_path):
    p = _write(tmp_path, "t.csv", "SMILES\nCCO\n")
    with pytest.raises(DataError, match="'pIC50'"):
        prepare_smiles(p, DataConfig(properties=["pIC50"]))


def test_empty_non_utf8_wrong_delimiter_and_missing(tmp_path):
    with pytest.raises(DataError, match="is empty"):
        prepare_smiles(_write(tmp_path, "e.csv", "\n"), DataConfig())
    bad = tmp_path / "b.csv"
    bad.write_bytes(b"SMILES\nCC\xff\n")
    with pytest.raises(DataError, match="not UTF-8"):
        prepare_smiles(bad, DataConfig())
    with pytest.raises(DataError, match="looks"):
        prepare_smiles(_write(tmp_path, "s.csv", "SMILES;LogP\nCCO;1\n"), DataConfig())
    with pytest.raises(DataError, match="does not exist"):
        prepare_smiles(tmp_path / "nope.csv", DataConfig())
    with pytest.raises(DataError, match="does not exist"):  # not "unsupported extension" first
        prepare_smiles(tmp_path / "nope", DataConfig())
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="gzip"):
        prepare_smiles(gz, DataConfig())


def test_gzip_and_jsonl(tmp_path):
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(b"SMILES,LogP\nCCO,1\n"))
    assert prepare_smiles(gz, DataConfig(properties=["LogP"])).sequences == ["CCO"]
    js = _write(tmp_path, "t.jsonl", '{"SMILES": "CCO", "LogP": 1}\n{"SMILES": "CCN", "LogP": null}\n')
    data = prepare_smiles(js, DataConfig(properties=["LogP"], max_skip_fraction=0.5))
    assert data.sequences == ["CCO"] and data.skipped["missing_LogP"] == 1
