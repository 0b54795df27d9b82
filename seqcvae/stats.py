"""Generic statistics in numpy: ranks, rank correlation, distances between samples and vectors.

No torch, no RDKit; chem (MOSES metrics, property control), sweep and evaluation use them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties share their mean rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Boundaries of runs of equal values (the temporaries freed before the ranks are allocated:
    # the sweep's overall Spearman ranks every valid sample).
    change = np.empty(len(x), dtype=bool)
    change[:1] = True
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=change[1:])
    del sorted_x
    starts = np.flatnonzero(change)
    del change
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), dtype=np.float64)
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + e - 1) + 1.0
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation; NaN when fewer than 3 pairs or either side is constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    return float((ra * rb).sum() / math.sqrt((ra * ra).sum() * (rb * rb).sum()))


def weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    """sum(x * w) / sum(w); NaN when the weights sum to 0."""
    return float((x * w).sum() / w.sum()) if w.sum() else math.nan


def wasserstein_1d(
    u: np.ndarray, v: np.ndarray, u_weights: np.ndarray | None = None, v_weights: np.ndarray | None = None
) -> float:
    """First Wasserstein distance between two 1-D empirical distributions (as scipy.stats)."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    uw = np.ones(len(u)) if u_weights is None else np.asarray(u_weights, dtype=np.float64)
    vw = np.ones(len(v)) if v_weights is None else np.asarray(v_weights, dtype=np.float64)
    if not len(u) or not len(v):
        return math.nan
    ui, vi = np.argsort(u), np.argsort(v)
    values = np.sort(np.concatenate([u, v]))
    deltas = np.diff(values)
    ucdf = np.concatenate([[0.0], np.cumsum(uw[ui])])[np.searchsorted(u[ui], values[:-1], "right")]
    vcdf = np.concatenate([[0.0], np.cumsum(vw[vi])])[np.searchsorted(v[vi], values[:-1], "right")]
    return float(np.sum(np.abs(ucdf / uw.sum() - vcdf / vw.sum()) * deltas))


def cosine_similarity(ref: Mapping[str, float], gen: Mapping[str, float]) -> float:
    """Cosine similarity of two count vectors given as {key: count}; NaN if either is empty."""
    if not ref or not gen:
        return math.nan
    keys = set(ref) | set(gen)
    r = np.array([ref.get(k, 0) for k in keys], dtype=np.float64)
    g = np.array([gen.get(k, 0) for k in keys], dtype=np.float64)
    return float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g)))


def agg_tanimoto(
    ref: np.ndarray,
    gen: np.ndarray,
    agg: str = "max",
    p: int = 1,
    ref_weights: np.ndarray | None = None,
    batch: int = 4096,
) -> np.ndarray:
    """For each row of gen (a 0/1 vector, e.g. fingerprint bits): max (or power-p weighted mean)
    Tanimoto similarity to the rows of ref.

    0/0 (two empty vectors) counts as similarity 1, as in MOSES.
    """
    if agg not in ("max", "mean"):
        raise ValueError(f"agg must be 'max' or 'mean', got {agg!r}")
    out = np.zeros(len(gen), dtype=np.float64)
    w = np.ones(len(ref)) if ref_weights is None else ref_weights.astype(np.float64)
    g_all = gen.astype(np.float32)
    r_all = ref.astype(np.float32)
    g_bits, r_bits = g_all.sum(1), r_all.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(0, len(gen), batch):
            g = g_all[i : i + batch]
            acc = np.zeros(len(g), dtype=np.float64)
            for j in range(0, len(ref), batch):
                both = r_all[j : j + batch] @ g.T  # (R, G) common on-bits, exact in fp32
                sim = both / (r_bits[j : j + batch, None] + g_bits[None, i : i + batch] - both)
                sim[np.isnan(sim)] = 1.0
                if agg == "max":
                    acc = np.maximum(acc, sim.max(0))
                else:
                    acc += (sim.astype(np.float64) ** p * w[j : j + batch, None]).sum(0)
            out[i : i + batch] = acc
    if agg == "mean":
        out /= w.sum()
        if p != 1:
            out = out ** (1.0 / p)
    return out
