"""From a RunConfig to tokenizer, condition space and train/validation datasets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqcvae.config import RunConfig
from seqcvae.data.conditions import ConditionSpace
from seqcvae.data.dataset import TokenDataset
from seqcvae.data.prepare import PreparedData, prepare_smiles
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
    tokenizer_state: dict | None = None,  # type: ignore[type-arg]
    conditions_state: dict | None = None,
    workers: int = 1,
) -> Prepared:
    """Read, clean and split the data; fit (or restore, when resuming) tokenizer and conditions."""
    d = cfg.data
    full = prepare_smiles(resolve_data_path(d.train_path), d, workers=workers)
    if d.val_path:
        train_data = full
        val_data = prepare_smiles(resolve_data_path(d.val_path), d, workers=workers)
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
        load_tokenizer(tokenizer_state) if tokenizer_state else SmilesTokenizer.train(train_data.sequences)
    )
    conditions = (
        ConditionSpace.from_dict(conditions_state)
        if conditions_state
        else ConditionSpace.fit(train_data.columns, train_data.tag_columns)
    )
    datasets = []
    for part in (train_data, val_data):
        enc = conditions.encode_columns(part.columns, part.tag_columns, len(part))
        datasets.append(TokenDataset.build(part.sequences, tokenizer, enc, d.max_length))
    summary = full.skip_summary()
    if d.val_path:
        summary += f"; validation file: {val_data.skip_summary()}"
    return Prepared(tokenizer, conditions, datasets[0], datasets[1], train_data, val_data, summary)
