"""From a RunConfig to tokenizer, condition space and train/validation datasets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqcvae.config import RunConfig
from seqcvae.data.conditions import ConditionSpace
from seqcvae.data.dataset import TokenDataset
from seqcvae.data.prepare import PreparedData, property_sources, rdkit_disagreements
from seqcvae.data.store import RowStore, open_store
from seqcvae.errors import ConfigError, DataError
from seqcvae.tokenizers import SmilesTokenizer, Tokenizer, load_tokenizer

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def resolve_data_path(path: str) -> Path:
    """Relative data paths are tried against the working directory, then the project checkout."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    alt = PACKAGE_ROOT / p
    return alt if alt.exists() else p


def train_tokenizer(cfg: RunConfig, texts: Iterable[str]) -> Tokenizer:
    if cfg.data.kind == "text":
        from seqcvae.tokenizers.sentencepiece import SentencePieceTokenizer

        return SentencePieceTokenizer.train(texts, cfg.data.vocab_size, cfg.data.sp_model_type)
    if cfg.data.representation == "selfies":
        from seqcvae.tokenizers.selfies import SelfiesTokenizer

        return SelfiesTokenizer.train(texts)
    return SmilesTokenizer.train(texts)


@dataclass
class RunData:
    tokenizer: Tokenizer
    conditions: ConditionSpace
    train: TokenDataset
    val: TokenDataset
    val_data: PreparedData  # the validation rows in memory (evaluation draws conditions from them)
    stores: list[RowStore]  # training file (and validation file): memory-mapped checked rows
    data_summary: str = ""

    @property
    def kind(self) -> str:
        return "smiles" if self.stores[0].has_canonical else "text"

    def reference_smiles(self) -> Iterator[str]:
        """Sorted distinct canonical SMILES of the training (and validation) file(s), streamed
        from the stores' sorted reference files."""
        import contextlib
        import gzip
        import heapq

        with contextlib.ExitStack() as stack:
            files = [
                stack.enter_context(gzip.open(s.reference_file(), "rt", encoding="utf-8"))
                for s in self.stores
                if s.has_canonical
            ]
            last = None
            for line in heapq.merge(*files):
                smi = line.rstrip("\n")
                if smi != last:
                    yield smi
                    last = smi


def _tokenizer_key(cfg: RunConfig, rows: np.ndarray) -> str:
    """The tokenizer depends on the data kind, its vocabulary settings and the training rows."""
    import hashlib

    d = cfg.data
    extra = "" if d.representation == "smiles" else f"{d.representation}|"  # smiles: keys as before
    if d.kind == "text":
        from seqcvae.tokenizers.sentencepiece import TOKENIZER_VERSION

        extra += f"sp{TOKENIZER_VERSION}|"
    h = hashlib.sha256(f"{d.kind}|{d.vocab_size}|{d.sp_model_type}|{extra}".encode())
    h.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


def _split_rows(n: int, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows) holding out data.val_fraction at random (data.split_seed, so
    that runs with different train.seed are validated on the same rows and, for text, share the
    SentencePiece vocabulary, which is trained on the training rows)."""
    d = cfg.data
    if not 0.0 < d.val_fraction < 1.0:
        raise DataError(f"data.val_fraction={d.val_fraction} must be in (0, 1) without data.val_path")
    perm = np.random.default_rng(d.split_seed).permutation(n)
    n_val = max(1, int(round(n * d.val_fraction)))
    if n_val >= n:
        raise DataError(f"only {n} usable rows: too few to hold out a validation set")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _check_file_properties(
    store: RowStore, rows: np.ndarray, sources: dict[str, str], log: Callable[[str], None]
) -> None:
    """Warn when a file column named like an RDKit property disagrees with RDKit's measurement
    (on up to 1000 training rows): generated molecules are scored with RDKit's."""
    from seqcvae.chem.properties import PROPERTY_NAMES

    names = [p for p, s in sources.items() if s == "file" and p in PROPERTY_NAMES]
    if not names or not len(rows):
        return
    sample = np.sort(np.random.default_rng(0).choice(rows, size=min(1000, len(rows)), replace=False))
    part = store.prepared(sample)
    for warning in rdkit_disagreements(part.sequences, {p: part.columns[p] for p in names}):
        log(f"warning: {warning}")


def prepare_run_data(
    cfg: RunConfig,
    tokenizer_state: dict | None = None,
    conditions_state: dict | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = None,
) -> RunData:
    """Check, cache and split the data; fit (or restore, when resuming) tokenizer and conditions.

    Rows come from the memory-mapped store (seqcvae.data.store): built on the first run, reused
    by later runs with the same file and data settings.
    """
    d = cfg.data
    if not d.train_path:
        raise ConfigError("data.train_path is empty: set data.train_path=FILE, the training data")
    train_store = open_store(resolve_data_path(d.train_path), d, workers=workers, log=log)
    if d.val_path:
        val_store = open_store(resolve_data_path(d.val_path), d, workers=workers, log=log)
        stores = [train_store, val_store]
        train_rows, val_rows = np.arange(len(train_store)), np.arange(len(val_store))
    else:
        val_store = train_store
        stores = [train_store]
        train_rows, val_rows = _split_rows(len(train_store), cfg)
    tokenizer = (
        load_tokenizer(tokenizer_state)
        if tokenizer_state
        else train_store.cached_tokenizer(
            _tokenizer_key(cfg, train_rows),
            lambda: train_tokenizer(cfg, train_store.iter_sequences(train_rows)),
        )
    )
    sources = property_sources(resolve_data_path(d.train_path), d)
    if conditions_state:
        conditions = ConditionSpace.from_dict(conditions_state)
        for c in conditions.continuous:  # a run from before sources were recorded
            c.source = c.source or sources.get(c.name)
        added = [p for p in d.properties if p not in {c.name for c in conditions.continuous}]
        if added:  # fine-tuning with new properties: theirs are fitted on this data, after the kept
            columns = train_store.columns(train_rows)
            fitted = ConditionSpace.fit({p: columns[p] for p in added}, {}, sources)
            conditions = ConditionSpace(conditions.continuous + fitted.continuous, conditions.categorical)
    else:
        conditions = ConditionSpace.fit(
            train_store.columns(train_rows), train_store.tag_columns(train_rows), sources
        )
        if log and d.kind == "smiles":
            _check_file_properties(train_store, train_rows, sources, log)
    unknown_note = ""
    if d.val_path and conditions.categorical:
        # Validation rows whose tags never occur in training cannot be encoded: skip and count.
        known = {c.name: set(c.values[1:]) for c in conditions.categorical}
        tags = val_store.tag_columns(val_rows)
        keep = [i for i in range(len(val_rows)) if all(tags[t][i] in known[t] for t in known)]
        if len(keep) < len(val_rows):
            unknown_note = (
                f"; {len(val_rows) - len(keep)} validation rows with tags unseen in training skipped"
            )
            if not keep:
                raise DataError(f"no validation row of {d.val_path!r} has tags seen in training")
            val_rows = val_rows[np.asarray(keep)]
    datasets = []
    long_note = ""
    for part, store, rows in (("train", train_store, train_rows), ("val", val_store, val_rows)):
        chunks, n_tokens = store.token_chunks(tokenizer, d.max_length)
        over = n_tokens[rows] > d.max_length
        n_long = int(over.sum())
        if n_long and d.too_long == "drop":
            rows = rows[~over]
        if part == "val":
            val_rows = rows
        enc = conditions.encode_columns(store.columns(rows), store.tag_columns(rows), len(rows))
        datasets.append(TokenDataset(chunks, enc, rows))
        if part == "train" and n_long:
            verb = "dropped" if d.too_long == "drop" else "truncated"
            long_note = f"; {n_long} training sequences over {d.max_length} tokens {verb}"
    summary = train_store.skip_summary() + long_note + unknown_note
    if d.val_path:
        summary += f"; validation file: {val_store.skip_summary()}"
    val_data = val_store.prepared(val_rows)
    return RunData(tokenizer, conditions, datasets[0], datasets[1], val_data, stores, summary)
