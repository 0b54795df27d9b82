"""Molecule-set metrics for generated SMILES: validity, uniqueness, novelty, property control.

Definitions follow MOSES: validity = valid / generated; uniqueness = unique canonical / valid;
novelty = unique canonical not in the training set / unique canonical.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties share their mean rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    # Boundaries of runs of equal values.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1) + 1.0
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation; NaN when fewer than 3 pairs or either side is constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    return float((ra * rb).sum() / math.sqrt((ra * ra).sum() * (rb * rb).sum()))


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
