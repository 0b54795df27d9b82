"""A sweep's numbers, as pure functions: per target (summary.csv), over all targets (overall.json),
and the progress line printed after each target."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from seqcvae.evaluation.summary import set_summary, text_summary
from seqcvae.io.records import SampleRecord
from seqcvae.stats import spearman
from seqcvae.sweep.plan import SweepPlan


class StyleScorer(Protocol):
    def accuracy(self, texts: Sequence[str], tags: Mapping[str, Sequence[Any]]) -> Mapping[str, float]: ...


def property_stats(
    measured: Sequence[str],
    targets: Mapping[str, float],
    tolerance: Mapping[str, float],
    valid: Sequence[SampleRecord],
) -> dict[str, Any]:
    """Per property of `measured`: mean and std over the valid samples; for those with a target
    (`targets`, each scored within `tolerance`) also the MAE against it and the hit rate
    (|measured - target| <= tolerance); hit_rate: all within. A sweep's targets and generate's
    requests (recipes.generate) are scored by this one function."""
    out: dict[str, Any] = {}
    hits_all = np.ones(len(valid), dtype=bool)
    for p in measured:
        x = np.array([r.properties.get(p, math.nan) for r in valid], dtype=np.float64)
        out[f"{p}_mean"] = float(np.nanmean(x)) if len(x) else math.nan
        out[f"{p}_std"] = float(np.nanstd(x)) if len(x) else math.nan
        if p in targets:
            err = np.abs(x - float(targets[p]))
            hit = err <= tolerance[p]
            hits_all &= hit
            out[f"{p}_mae"] = float(np.nanmean(err)) if len(x) else math.nan
            out[f"{p}_hit_rate"] = float(hit.mean()) if len(x) else math.nan
    out["hit_rate"] = float(hits_all.mean()) if len(valid) and targets else math.nan
    return out


def summarise_target(
    plan: SweepPlan,
    i: int,
    request: Mapping[str, Any],
    records: Sequence[SampleRecord],
    reference: set[str] | None,
    style: StyleScorer | None = None,
) -> dict[str, Any]:
    """Per-target summary. SMILES: validity, uniqueness, novelty (evaluation.summary) and per
    property mean/std/MAE/hit rate. Text: uniqueness, distinct-1/2 and, given a style classifier,
    the accuracy of each swept tag."""
    n = len(records)
    out: dict[str, Any] = {"target_index": i, **{f"target_{k}": request[k] for k in plan.spec.targets}}
    out["n"] = n
    if plan.smiles:
        sets = set_summary(records, reference)
        out.update({k: sets[k] for k in ("validity", "uniqueness", "novelty")})
        targets = {p: float(request[p]) for p in plan.continuous}
        valid = [r for r in records if r.valid]
        out.update(property_stats(plan.measured, targets, plan.tolerance, valid))
    else:
        texts = [r.sequence for r in records]
        diversity = text_summary(texts)
        out.update({k: diversity[k] for k in ("uniqueness", "distinct_1", "distinct_2")})
        if style is not None and plan.tags:
            acc = style.accuracy(texts, {t: [request[t]] * n for t in plan.tags})
            out.update({f"{t}_style_accuracy": acc.get(t, math.nan) for t in plan.tags})
    return out


def overall_summary(
    plan: SweepPlan,
    summaries: Sequence[Mapping[str, Any]],
    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, Any]:
    """overall.json: per swept property Spearman, MAE and hit rate over every valid sample
    (`pairs[p]`: the targets and the measured values of the valid samples), and over the targets' means."""
    overall: dict[str, Any] = {
        "targets": len(plan.requests),
        "finished": len(summaries),
        "n_per_target": plan.spec.n,
    }
    for p, (t, m) in pairs.items():
        if not len(t):
            continue
        error = t - m
        np.abs(error, out=error)
        means = [(s[f"target_{p}"], s[f"{p}_mean"]) for s in summaries if not math.isnan(s[f"{p}_mean"])]
        overall[p] = {
            "valid_samples": len(t),
            "spearman": spearman(t, m),
            "mae": float(error.mean()),
            "spearman_of_target_means": spearman(*zip(*means)) if len(means) >= 3 else math.nan,
            "mean_of_target_maes": float(np.mean([s[f"{p}_mae"] for s in summaries])),
            "hit_rate": float(np.count_nonzero(error <= plan.tolerance[p]) / len(error)),
            "tolerance": plan.tolerance[p],
        }
    if plan.smiles and summaries:
        overall["validity"] = float(np.mean([s["validity"] for s in summaries]))
    return overall


def progress_line(
    plan: SweepPlan, i: int, total: int, request: Mapping[str, Any], s: Mapping[str, Any]
) -> str:
    """target 2/13 LogP=0.5: validity 0.91 LogP 0.62 (MAE 0.40, hit 0.55) (3.1 s)"""
    where = " ".join(
        f"{k}={request[k]:g}" if isinstance(request[k], float) else f"{k}={request[k]}"
        for k in plan.spec.targets
    )
    parts = [f"target {i + 1}/{total} {where}:"]
    if "validity" in s:
        parts.append(f"validity {s['validity']:.2f}")
    for p in plan.continuous:
        parts.append(f"{p} {s[f'{p}_mean']:.2f} (MAE {s[f'{p}_mae']:.2f}, hit {s[f'{p}_hit_rate']:.2f})")
    for t in plan.tags:
        if f"{t}_style_accuracy" in s:
            parts.append(f"{t} accuracy {s[f'{t}_style_accuracy']:.2f}")
    parts.append(f"({s['seconds']:.1f} s)")
    return " ".join(parts)
