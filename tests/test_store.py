"""The memory-mapped data cache: same rows as the in-memory path, reuse, atomic builds."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from seqcvae.config import DataConfig, RunConfig
from seqcvae.data.dataset import TokenDataset
from seqcvae.data.prepare import prepare_table
from seqcvae.data.splits import prepare_run_data
from seqcvae.data.store import open_store
from seqcvae.errors import DataError
from seqcvae.tokenizers import SmilesTokenizer

from .conftest import SAMPLE

MESSY = [
    "SMILES,LogP",
    "CCO,0.1",
    "C1CC,1.0",  # invalid ring closure
    ",2.0",  # empty
    "c1ccccc1O,nan",  # missing property
    "CC(=O)Nc1ccc(O)cc1,0.5",
    "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC,3.0",  # too long for max_length=30
    "CCN,-0.2",
    "OCC(O)CO,-1.5",
]


def _write(tmp_path: Path, lines: list[str], name: str = "m.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_store_rows_equal_in_memory_preparation(tmp_path: Path) -> None:
    cfg = DataConfig(properties=["LogP"], max_length=30, max_skip_fraction=0.9, cache_dir=str(tmp_path / "c"))
    path = _write(tmp_path, MESSY)
    mem = prepare_table(path, cfg)
    store = open_store(path, cfg)
    assert len(store) == len(mem) == 4
    assert store.skip_summary() == mem.skip_summary()
    rows = np.arange(len(store))
    assert store.prepared(rows).sequences == mem.sequences
    assert store.prepared(rows).canonical == mem.canonical
    np.testing.assert_array_equal(store.columns(rows)["LogP"], mem.columns["LogP"])


def test_run_datasets_equal_token_dataset_build(tmp_path: Path) -> None:
    """Tokens and conditions of the cached path equal TokenDataset.build on the same rows."""
    cfg = RunConfig()
    cfg.data.train_path = str(SAMPLE)
    cfg.data.limit = 600
    cfg.data.cache_dir = str(tmp_path / "c")
    prep = prepare_run_data(cfg)
    mem = prepare_table(SAMPLE, cfg.data)
    part = mem.subset(prep.val.rows)  # the rows the split held out, rebuilt in memory
    enc = prep.conditions.encode_columns(part.columns, part.tag_columns, len(part))
    ref, _ = TokenDataset.build(part.sequences, prep.tokenizer, enc, cfg.data.max_length, "drop")
    assert len(ref) == len(prep.val)
    for i in range(len(ref)):
        np.testing.assert_array_equal(prep.val.ids(i), ref.ids(i))
    np.testing.assert_allclose(prep.val.conditions.values, ref.conditions.values)
    b1, b2 = prep.val.collate(np.arange(8)), ref.collate(np.arange(8))
    assert bool((b1.tokens == b2.tokens).all()) and bool((b1.cond_values == b2.cond_values).all())
    assert list(prep.reference_smiles()) == sorted(set(mem.canonical))
    assert len(prep.train) + len(prep.val) == len(mem)


def test_validation_split_is_a_seeded_random_fraction(tmp_path: Path) -> None:
    """Without data.val_path: val_fraction of the rows, disjoint from training, together all of
    them, each in file order; the same split for the same seed, another for another seed."""

    def split(seed: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
        cfg = RunConfig()
        cfg.data.train_path, cfg.data.limit, cfg.data.cache_dir = str(SAMPLE), 600, str(tmp_path / "c")
        cfg.data.val_fraction, cfg.data.split_seed = fraction, seed
        prep = prepare_run_data(cfg)
        assert len(prep.stores[0]) == 600  # no row of this sample is dropped
        return prep.train.rows, prep.val.rows

    train, val = split(0, 0.05)
    assert len(val) == 30 and len(train) == 570
    assert not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(600))
    assert list(train) == sorted(train) and list(val) == sorted(val)
    assert val.max() - val.min() > 300  # spread over the file, not its first or last rows
    assert len(split(0, 0.25)[1]) == 150
    again, other = split(0, 0.05)[1], split(1, 0.05)[1]
    assert list(again) == list(val) and list(other) != list(val)


def test_token_chunks_are_memory_mapped_views(tmp_path: Path) -> None:
    cfg = DataConfig(limit=300, cache_dir=str(tmp_path / "c"))
    store = open_store(SAMPLE, cfg)
    tok = SmilesTokenizer.train(store.iter_sequences())
    chunks, n_tokens = store.token_chunks(tok, cfg.max_length)
    values, offsets = chunks[0]
    assert not values.flags.owndata and not values.flags.writeable  # a view of the Arrow buffer
    assert values.dtype == np.int16
    assert len(n_tokens) == len(store) == sum(len(o) - 1 for _, o in chunks)
    first = store.prepared(np.array([0])).sequences[0]
    assert values[offsets[0] : offsets[1]].tolist() == tok.encode(first)


def test_cache_is_reused_and_keyed_by_content(tmp_path: Path) -> None:
    cfg = DataConfig(properties=["LogP"], max_length=30, max_skip_fraction=0.9, cache_dir=str(tmp_path / "c"))
    path = _write(tmp_path, MESSY)
    a = open_store(path, cfg)
    marker = a.directory / "seqcvae_store.json"
    mtime = marker.stat().st_mtime_ns
    b = open_store(path, cfg)
    assert b.directory == a.directory and marker.stat().st_mtime_ns == mtime
    path.write_text("\n".join([*MESSY, "CCCl,1.2"]) + "\n", encoding="utf-8")  # same name, new content
    c = open_store(path, cfg)
    assert c.directory != a.directory and len(c) == len(a) + 1
    cfg.max_length = 60  # a row-shaping setting: another cache entry
    assert open_store(path, cfg).directory not in (a.directory, c.directory)


def test_failed_build_leaves_no_cache(tmp_path: Path) -> None:
    """A data error met after the first chunk (bad bytes deep in the file) leaves nothing behind."""
    cfg = DataConfig(properties=["LogP"], cache_dir=str(tmp_path / "c"))
    good = "\n".join(["SMILES,LogP", *(["CCO,0.1"] * 60_000)]) + "\n"
    p = tmp_path / "bad.csv.gz"
    p.write_bytes(gzip.compress(good.encode() + b"CC\xff,1.0\n"))
    with pytest.raises(DataError, match="not UTF-8"):
        open_store(p, cfg)
    assert not any((tmp_path / "c").iterdir())


def test_skip_limit_is_enforced_from_cache(tmp_path: Path) -> None:
    cfg = DataConfig(properties=["LogP"], max_length=30, max_skip_fraction=0.9, cache_dir=str(tmp_path / "c"))
    path = _write(tmp_path, MESSY)
    open_store(path, cfg)
    cfg.max_skip_fraction = 0.2  # not part of the key: judged again on every open
    with pytest.raises(DataError, match="rows are unusable"):
        open_store(path, cfg)


def test_no_usable_rows_is_data_error(tmp_path: Path) -> None:
    cfg = DataConfig(properties=["LogP"], cache_dir=str(tmp_path / "c"))
    with pytest.raises(DataError, match="no usable rows"):
        open_store(_write(tmp_path, ["SMILES,LogP", "C1CC,1.0", "xx,2.0"]), cfg)
    with pytest.raises(DataError, match="no usable rows"):
        open_store(_write(tmp_path, ["SMILES,LogP"], "header.csv"), cfg)


def test_unwritable_cache_dir_is_data_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = DataConfig(properties=["LogP"], cache_dir=str(blocker / "cache"))
    with pytest.raises(DataError, match="data.cache_dir"):
        open_store(_write(tmp_path, MESSY[:2]), cfg)


def test_a_build_clears_what_killed_builds_left(tmp_path: Path) -> None:
    """A build killed outright (SIGTERM, SIGKILL, the OOM killer) runs no cleanup and leaves its
    hidden temporary directory in the cache; the next build removes those older than a day and
    leaves younger ones (another process may be building right now) and the entries alone."""
    import os
    import time

    cfg = DataConfig(properties=["LogP"], max_length=30, max_skip_fraction=0.9, cache_dir=str(tmp_path / "c"))
    path = _write(tmp_path, MESSY)
    entry = open_store(path, cfg).directory
    root = entry.parent
    dead, live = root / f".other.csv-{'0' * 24}-abcd_123", root / f".{entry.name}-efgh4567"
    foreign = root / ".git"  # data.cache_dir may be any directory: only builds' own are swept
    foreign.mkdir()
    for d in (dead, live):
        (d / "build").mkdir(parents=True)
        (d / "build" / "part").write_bytes(b"x" * 1000)
    day_ago = time.time() - 25 * 3600
    for d in (dead, entry, foreign):
        os.utime(d, (day_ago, day_ago))
    open_store(path, cfg)  # reused: no build, nothing swept
    assert dead.exists()
    path.write_text("\n".join([*MESSY, "CCCl,1.2"]) + "\n", encoding="utf-8")  # new content: a build
    open_store(path, cfg)
    assert not dead.exists()
    assert live.exists() and entry.exists() and foreign.exists()
