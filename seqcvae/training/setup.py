"""From a RunConfig to tokenizer, condition space and train/validation datasets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqcvae.config import RunConfig
from seqcvae.data.conditions import ConditionSpace
from seqcvae.data.dataset import TokenDataset
from seqcvae.data.prepare import PreparedData, prepare_table
from seqcvae.errors import DataError
from seqcvae.tokenizers import SmilesTokenizer, Tokenizer, load_tokenizer

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def resolve_data_path(path: str) -> Path:
    """Relative data paths are tried against the working directory, then the project checkout."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    alt = PACKAGE_ROOT / p
    return alt if alt.exists() else p


def train_tokenizer(cfg: RunConfig, texts: list[str]) -> Tokenizer:
    if cfg.data.kind == "text":
        from seqcvae.tokenizers.sentencepiece import SentencePieceTokenizer

        return SentencePieceTokenizer.train(texts, cfg.data.vocab_size, cfg.data.sp_model_type)
    return SmilesTokenizer.train(texts)


@dataclass
class Prepared:
    tokenizer: Tokenizer
    conditions: ConditionSpace
    train: TokenDataset
    val: TokenDataset
    train_data: PreparedData
    val_data: PreparedData
    data_summary: str = ""


def prepare_run_data(
    cfg: RunConfig,
    tokenizer_state: dict | None = None,
    conditions_state: dict | None = None,
    workers: int = 1,
) -> Prepared:
    """Read, clean and split the data; fit (or restore, when resuming) tokenizer and conditions."""
    d = cfg.data
    full = prepare_table(resolve_data_path(d.train_path), d, workers=workers)
    if d.val_path:
        train_data = full
        val_data = prepare_table(resolve_data_path(d.val_path), d, workers=workers)
    else:
        if not 0.0 < d.val_fraction < 1.0:
            raise DataError(f"data.val_fraction={d.val_fraction} must be in (0, 1) without data.val_path")
        rng = np.random.default_rng(cfg.train.seed)
        perm = rng.permutation(len(full))
        n_val = max(1, int(round(len(full) * d.val_fraction)))
        if n_val >= len(full):
            raise DataError(f"only {len(full)} usable rows: too few to hold out a validation set")
        val_data = full.subset(np.sort(perm[:n_val]))
        train_data = full.subset(np.sort(perm[n_val:]))
    tokenizer = (
        load_tokenizer(tokenizer_state) if tokenizer_state else train_tokenizer(cfg, train_data.sequences)
    )
    conditions = (
        ConditionSpace.from_dict(conditions_state)
        if conditions_state
        else ConditionSpace.fit(train_data.columns, train_data.tag_columns)
    )
    unknown_note = ""
    if d.val_path and conditions.categorical:
        # Validation rows whose tags never occur in training cannot be encoded: skip and count.
        known = {c.name: set(c.values[1:]) for c in conditions.categorical}
        keep = [i for i in range(len(val_data)) if all(val_data.tag_columns[t][i] in known[t] for t in known)]
        if len(keep) < len(val_data):
            unknown_note = (
                f"; {len(val_data) - len(keep)} validation rows with tags unseen in training skipped"
            )
            if not keep:
                raise DataError(f"no validation row of {d.val_path!r} has tags seen in training")
            val_data = val_data.subset(np.asarray(keep))
    datasets = []
    long_note = ""
    for part in (train_data, val_data):
        enc = conditions.encode_columns(part.columns, part.tag_columns, len(part))
        ds, n_long = TokenDataset.build(part.sequences, tokenizer, enc, d.max_length, d.too_long)
        datasets.append(ds)
        if part is train_data and n_long:
            verb = "dropped" if d.too_long == "drop" else "truncated"
            long_note = f"; {n_long} training sequences over {d.max_length} tokens {verb}"
    summary = full.skip_summary() + long_note + unknown_note
    if d.val_path:
        summary += f"; validation file: {val_data.skip_summary()}"
    return Prepared(tokenizer, conditions, datasets[0], datasets[1], train_data, val_data, summary)
