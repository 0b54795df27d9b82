"""Molecule-set metrics for generated SMILES: validity, uniqueness, novelty, property control.

Definitions follow MOSES: validity = valid / generated; uniqueness = unique canonical / valid;
novelty = unique canonical not in the training set / unique canonical.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from seqcvae.stats import spearman


def set_metrics(canonical: Sequence[str | None], reference: Iterable[str] | None = None) -> dict[str, float]:
    """validity, uniqueness, novelty (NaN without a reference) of generated molecules."""
    n = len(canonical)
    valid = [c for c in canonical if c]
    unique = set(valid)
    out = {
        "generated": float(n),
        "validity": len(valid) / n if n else math.nan,
        "uniqueness": len(unique) / len(valid) if valid else math.nan,
        "novelty": math.nan,
    }
    if reference is not None and unique:
        ref = reference if isinstance(reference, (set, frozenset)) else set(reference)
        out["novelty"] = sum(1 for c in unique if c not in ref) / len(unique)
    return out


def property_control(
    records: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per property: MAE, Spearman between target and measured, and count, over valid records.

    Each record has "valid", "properties" (measured) and "targets" dicts.
    """
    out: dict[str, dict[str, float]] = {}
    for name in names:
        pairs = [
            (r["targets"][name], r["properties"][name])
            for r in records
            if r["valid"] and name in r["targets"] and name in r["properties"]
        ]
        if not pairs:
            continue
        t, m = np.array(pairs, dtype=np.float64).T
        out[name] = {
            "n": float(len(pairs)),
            "mae": float(np.abs(t - m).mean()),
            "spearman": spearman(t, m),
            "target_mean": float(t.mean()),
            "measured_mean": float(m.mean()),
            "measured_std": float(m.std()),
        }
    return out
