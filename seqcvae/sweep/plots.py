"""Plots of a finished sweep (matplotlib, optional: `pip install seqcvae[plots]`)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from seqcvae.sweep.plan import SweepPlan


def _summary(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _f(x: str) -> float:
    return float(x) if x not in ("", None) else math.nan


def plot_sweep(out: Path, plan: SweepPlan) -> list[str] | str:
    """Target-vs-measured per swept property; a hit-rate heat map for two-property sweeps.
    Returns the written paths, or a note when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'seqcvae[plots]'): no plots"
    rows = _summary(out)
    (out / "plots").mkdir(exist_ok=True)
    written: list[str] = []
    for p in plan.continuous:
        t = np.array([_f(r[f"target_{p}"]) for r in rows])
        mean = np.array([_f(r[f"{p}_mean"]) for r in rows])
        std = np.array([_f(r[f"{p}_std"]) for r in rows])
        fig, ax = plt.subplots(figsize=(5, 4.5))
        lo = float(np.nanmin([t.min(), np.nanmin(mean - std)]))
        hi = float(np.nanmax([t.max(), np.nanmax(mean + std)]))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="measured = target")
        order = np.argsort(t)
        tol = plan.tolerance[p]
        ax.fill_between(
            t[order], t[order] - tol, t[order] + tol, color="grey", alpha=0.15, label=f"± {tol:.2g}"
        )
        ax.errorbar(t, mean, yerr=std, fmt="o", ms=4, capsize=2, label="measured mean ± std")
        ax.set_xlabel(f"target {p}")
        ax.set_ylabel(f"measured {p} (RDKit)")
        ax.set_title(f"{p}: {len(rows)} targets × {plan.spec.n} samples")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        path = out / "plots" / f"target_vs_measured_{p}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(str(path))
    if len(plan.continuous) == 2:
        a, b = plan.continuous
        xa = sorted({_f(r[f"target_{a}"]) for r in rows})
        xb = sorted({_f(r[f"target_{b}"]) for r in rows})
        grid = np.full((len(xb), len(xa)), np.nan)
        for r in rows:
            grid[xb.index(_f(r[f"target_{b}"])), xa.index(_f(r[f"target_{a}"]))] = _f(r["hit_rate"])
        fig, ax = plt.subplots(figsize=(6, 5))
        im = ax.imshow(grid, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(xa)), [f"{v:g}" for v in xa], rotation=45)
        ax.set_yticks(range(len(xb)), [f"{v:g}" for v in xb])
        ax.set_xlabel(f"target {a}")
        ax.set_ylabel(f"target {b}")
        ax.set_title(f"hit rate (|{a}| ≤ {plan.tolerance[a]:.2g} and |{b}| ≤ {plan.tolerance[b]:.2g})")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        path = out / "plots" / f"heatmap_{a}_{b}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(str(path))
    return written
