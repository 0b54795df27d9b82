"""Prepared and tokenised rows kept as memory-mapped Arrow files (the `datasets` library's format).

A training file is read, checked and measured once (RDKit for SMILES) in chunks, written with
`datasets.Dataset.from_generator` and saved under a directory keyed by the file's content hash and
the data settings that shape the rows; later runs memory-map it. Token ids are added by
`Dataset.map` into a cache file keyed by the tokenizer, and handed to TokenDataset as zero-copy
views of the Arrow buffers, so the RAM a run needs does not grow with the token data.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqcvae.config import DataConfig
from seqcvae.data.prepare import PreparedData, check_skips, iter_prepared, skip_summary
from seqcvae.data.tables import check_data_file
from seqcvae.errors import DataError
from seqcvae.io.atomic import atomic_open, atomic_write_text, publish_dir
from seqcvae.io.cache import file_sha256, user_cache_dir
from seqcvae.tokenizers import Tokenizer, load_tokenizer

STORE_VERSION = 1
# Data settings that change which rows are kept or what they hold (not validation or vocabulary).
_ROW_SETTINGS = ("kind", "sequence_column", "properties", "tags", "max_length", "too_long", "limit")
_BATCH = 20_000
# A build's temporary directory older than this is a dead build's (killed with no cleanup): the
# full MOSES training split, the largest file seen, builds in about 15 minutes.
STALE_BUILD_SECONDS = 24 * 3600
# The name of a build's temporary directory: "." + the entry's name (file name, "-", 24 hex digits
# of store_key) + "-" + tempfile.mkdtemp's random suffix.
_BUILD_DIR = re.compile(r"^\..+-[0-9a-f]{24}-[a-z0-9_]{8}$")


def cache_root(cfg: DataConfig) -> Path:
    """data.cache_dir, else $XDG_CACHE_HOME/seqcvae/datasets (default ~/.cache/seqcvae/datasets)."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else user_cache_dir("datasets")


def store_key(path: Path, cfg: DataConfig) -> str:
    """Content hash of the file + the row-shaping settings (+ RDKit's version for SMILES)."""
    settings: dict[str, Any] = {k: getattr(cfg, k) for k in _ROW_SETTINGS}
    settings["version"] = STORE_VERSION
    settings["file"] = file_sha256(path)
    if cfg.kind == "smiles":
        import rdkit

        settings["rdkit"] = rdkit.__version__
    blob = json.dumps(settings, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


@dataclass
class RowStore:
    """The kept rows of one data file, in file order, memory-mapped from disk."""

    directory: Path
    dataset: Any  # datasets.Dataset: sequence, [canonical], one float64 column per property, tags
    total_rows: int
    skipped: Counter[str]
    properties: list[str]
    tags: list[str]

    def __len__(self) -> int:
        return len(self.dataset)

    def skip_summary(self) -> str:
        return skip_summary(len(self), self.total_rows, self.skipped)

    def _column(self, name: str) -> Any:
        return self.dataset.data.column(name)

    def columns(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {p: self._column(p).take(rows).to_numpy() for p in self.properties}

    def tag_columns(self, rows: np.ndarray) -> dict[str, list[str]]:
        return {t: self._column(t).take(rows).to_pylist() for t in self.tags}

    def iter_sequences(self, rows: np.ndarray | None = None) -> Iterator[str]:
        """The sequences of `rows` (default: all) in file order, a batch at a time."""
        column = self._column("sequence")
        keep = None
        if rows is not None:
            keep = np.zeros(len(column), dtype=bool)
            keep[rows] = True
        for start in range(0, len(column), _BATCH):
            batch = column.slice(start, _BATCH).to_pylist()
            if keep is None:
                yield from batch
            else:
                yield from (s for s, k in zip(batch, keep[start : start + _BATCH]) if k)

    def prepared(self, rows: np.ndarray) -> PreparedData:
        """Rows `rows` as an in-memory table (for evaluation on held-out rows)."""
        seqs = self._column("sequence").take(rows).to_pylist()
        canonical = self._column("canonical").take(rows).to_pylist() if self.has_canonical else []
        return PreparedData(
            sequences=seqs,
            columns=self.columns(rows),
            tag_columns=self.tag_columns(rows),
            canonical=canonical,
            total_rows=len(rows),
        )

    @property
    def has_canonical(self) -> bool:
        return "canonical" in self.dataset.column_names

    def token_chunks(
        self, tokenizer: Tokenizer, max_length: int
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
        """Token ids (truncated to max_length) as zero-copy (values, offsets) chunks, and every
        row's untruncated token count. Cached next to the rows, keyed by the tokenizer."""
        state = json.dumps(tokenizer.to_dict(), sort_keys=True)
        key = hashlib.sha256(f"{state}|{max_length}|{STORE_VERSION}".encode()).hexdigest()[:24]
        import datasets

        dtype = "int16" if tokenizer.vocab_size < 2**15 else "int32"
        features = datasets.Features(
            {"ids": datasets.Sequence(datasets.Value(dtype)), "n_tokens": datasets.Value("int32")}
        )
        with _cache_errors(self.directory):
            tokens = self._map_tokens(state, key, max_length, features)
        chunks = []
        for arr in tokens.data.column("ids").chunks:
            chunks.append((arr.values.to_numpy(zero_copy_only=True), arr.offsets.to_numpy()))
        return chunks, tokens.data.column("n_tokens").to_numpy()

    def _map_tokens(self, state: str, key: str, max_length: int, features: Any) -> Any:
        return self.dataset.map(
            _encode_batch,
            batched=True,
            batch_size=_BATCH,
            input_columns="sequence",
            remove_columns=self.dataset.column_names,
            fn_kwargs={"state": state, "max_length": max_length},
            features=features,
            cache_file_name=str(self.directory / f"tokens-{key}.arrow"),
            new_fingerprint=key,
            load_from_cache_file=True,
        )

    def reference_file(self) -> Path:
        """A gzip text file of the distinct canonical SMILES, sorted; made once per store."""
        path = self.directory / "canonical_sorted.txt.gz"
        if not path.exists():
            with _cache_errors(self.directory):
                self._write_reference(path)
        return path

    def _write_reference(self, path: Path) -> None:
        import gzip

        import pyarrow.compute as pc

        uniq = pc.unique(self._column("canonical"))
        ordered = uniq.take(pc.sort_indices(uniq))
        with atomic_open(path, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
            for start in range(0, len(ordered), 100_000):
                fh.writelines(s + "\n" for s in ordered.slice(start, 100_000).to_pylist())

    def cached_tokenizer(self, key: str, train: Callable[[], Tokenizer]) -> Tokenizer:
        """The tokenizer trained on this store's rows under `key`, trained once and kept."""
        path = self.directory / f"tokenizer-{key}.json"
        if path.exists():
            with contextlib.suppress(OSError, ValueError, KeyError):
                return load_tokenizer(json.loads(path.read_text(encoding="utf-8")))
        tok = train()
        with contextlib.suppress(OSError):  # a read-only cache still trains
            atomic_write_text(path, json.dumps(tok.to_dict()))
        return tok


_TOKENIZERS: dict[str, Tokenizer] = {}


def _encode_batch(sequences: list[str], state: str, max_length: int) -> dict[str, list]:
    tok = _TOKENIZERS.get(state)
    if tok is None:
        _TOKENIZERS.clear()
        tok = _TOKENIZERS[state] = load_tokenizer(json.loads(state))
    ids = [tok.encode(s) for s in sequences]
    return {"ids": [t[:max_length] for t in ids], "n_tokens": [len(t) for t in ids]}


def open_store(
    path: Path, cfg: DataConfig, workers: int = 1, log: Callable[[str], None] | None = None
) -> RowStore:
    """The store of `path` under these settings: memory-mapped from the cache, or built now.

    Raises DataError (as prepare_table) when the file is unusable or too many rows are skipped.
    """
    import datasets

    check_data_file(path)  # before the cache key hashes it
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    directory = cache_root(cfg) / f"{path.name}-{store_key(path, cfg)}"
    meta_path = directory / "seqcvae_store.json"
    if not meta_path.exists():
        if log:
            log(f"data: checking {path} and caching it under {directory}")
        with _cache_errors(directory):
            _build(path, cfg, workers, directory)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    store = RowStore(
        directory=directory,
        dataset=datasets.load_from_disk(str(directory / "rows")),
        total_rows=meta["total_rows"],
        skipped=Counter(meta["skipped"]),
        properties=list(cfg.properties),
        tags=list(cfg.tags),
    )
    check_skips(path, store.total_rows, len(store), store.skipped, cfg)
    return store


def remove_dead_builds(root: Path, older_than: float = STALE_BUILD_SECONDS) -> None:
    """Delete the hidden temporary directories under the cache `root` that builds killed outright
    left behind (no `finally` runs under SIGKILL or the OOM killer), once older than `older_than`
    seconds; younger ones may belong to a build in progress."""
    import time

    limit = time.time() - older_than
    for d in root.glob(".*"):
        if not _BUILD_DIR.match(d.name):  # only our own: data.cache_dir may be any directory
            continue
        try:
            if d.is_dir() and d.stat().st_mtime < limit:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:  # removed meanwhile by another process
            continue


def _build(path: Path, cfg: DataConfig, workers: int, directory: Path) -> None:
    """Write rows + meta into a temporary directory, then rename it into place (atomic)."""
    import datasets

    columns: dict[str, Any] = {"sequence": datasets.Value("string")}
    if cfg.kind == "smiles":
        columns["canonical"] = datasets.Value("string")
    columns.update({p: datasets.Value("float64") for p in cfg.properties})
    columns.update({t: datasets.Value("string") for t in cfg.tags})
    counts: dict[str, Any] = {"total_rows": 0, "skipped": Counter()}
    # Errors in the data (DataError) surface from the generator: read the first chunk here so the
    # file's own problems are reported before any cache directory is made.
    chunks = iter_prepared(path, cfg, workers=workers)
    first = next(chunks, None)
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_builds(directory.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        # from_generator hashes its arguments: pass a key to the (unpicklable) chunk iterator.
        key = tmp.name
        _PENDING[key] = (itertools.chain([] if first is None else [first], chunks), counts, path, cfg)
        try:
            ds = _from_generator(
                _rows,
                features=datasets.Features(columns),
                cache_dir=str(tmp / "build"),
                gen_kwargs={"key": key},
            )
        finally:
            _PENDING.pop(key, None)
        ds.save_to_disk(str(tmp / "rows"))
        del ds
        shutil.rmtree(tmp / "build", ignore_errors=True)
        meta = {"source": str(path), "total_rows": counts["total_rows"], "skipped": dict(counts["skipped"])}
        (tmp / "seqcvae_store.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if not publish_dir(tmp, directory):  # built meanwhile by another process: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def _cache_errors(directory: Path) -> Iterator[None]:
    """A cache directory that cannot be written (read-only home, full disk) is a DataError."""
    try:
        yield
    except OSError as exc:
        name = str(exc.filename or "")
        if name and not name.startswith(str(directory.parent)):
            raise  # not about the cache (e.g. the data file itself)
        raise DataError(
            f"cannot write the data cache under {str(directory.parent)!r} ({exc.strerror or exc}); "
            "set data.cache_dir=DIR to a writable directory"
        ) from None


def _from_generator(*args: Any, **kwargs: Any) -> Any:
    """datasets.Dataset.from_generator, re-raising the data's own DataError (a bad row deep in the
    file) rather than datasets' wrapper."""
    import datasets

    try:
        return datasets.Dataset.from_generator(*args, **kwargs)
    except datasets.exceptions.DatasetGenerationError as exc:
        cause = exc.__cause__
        if isinstance(cause, (DataError, OSError)):
            raise cause from None
        raise


_PENDING: dict[str, tuple[Iterator[PreparedData], dict[str, Any], Path, DataConfig]] = {}


def _rows(key: str) -> Iterator[dict[str, Any]]:
    parts, counts, path, cfg = _PENDING[key]
    kept = 0
    for part in parts:
        kept += len(part)
        counts["total_rows"] += part.total_rows
        counts["skipped"].update(part.skipped)
        for i, seq in enumerate(part.sequences):
            row: dict[str, Any] = {"sequence": seq}
            if part.canonical:
                row["canonical"] = part.canonical[i]
            row.update({p: float(v[i]) for p, v in part.columns.items()})
            row.update({t: v[i] for t, v in part.tag_columns.items()})
            yield row
    if not kept:  # nothing to write: the same DataError as the in-memory path
        check_skips(path, counts["total_rows"], 0, counts["skipped"], cfg)
