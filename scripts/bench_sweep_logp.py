#!/usr/bin/env python
"""Issue-6 acceptance figure: a LogP sweep over the data range with a trained model.

Targets: 13 evenly spaced LogP values over [p1, p99] of the training LogP (data/moses_sample),
N samples each (default 200), every other condition left free. Reports per target the validity,
the mean measured LogP, MAE and hit rate (|error| <= 0.25), and overall: Spearman between target
and measured LogP over all valid samples, Spearman of the per-target means, MAE over all valid
samples. Goal (issue 6): MAE <= 0.25 and Spearman >= 0.95.

    python scripts/bench_sweep_logp.py --run runs/smiles_default
    python scripts/bench_sweep_logp.py --run runs/smiles_default --temperature 0.5 --label T0.5
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.sweep import SweepSpec, run_sweep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--steps", type=int, default=13)
    ap.add_argument("--temperature", type=float)
    ap.add_argument("--top-p", type=float)
    ap.add_argument("--greedy", action="store_true")
    ap.add_argument("--label", default="default sampling")
    ap.add_argument("--out", help="sweep directory (default RUN/sweep_logp_<label>)")
    args = ap.parse_args()

    with gzip.open(ROOT / "data" / "moses_sample" / "train.csv.gz", "rt") as fh:
        logp = np.array([float(r["LogP"]) for r in csv.DictReader(fh)])
    lo, hi = (round(float(x), 3) for x in np.percentile(logp, [1, 99]))
    sample = {
        "temperature": args.temperature,
        "top_p": args.top_p,
        "strategy": "greedy" if args.greedy else None,
    }
    spec = SweepSpec(
        targets={"LogP": [round(float(x), 4) for x in np.linspace(lo, hi, args.steps)]},
        n=args.n,
        tolerance={"LogP": 0.25},
        sample={k: v for k, v in sample.items() if v is not None},
        images=0,
    )
    out = Path(args.out) if args.out else Path(args.run) / f"sweep_logp_{args.label.replace(' ', '_')}"
    gen = Generator.load(args.run)
    t0 = time.perf_counter()
    overall = run_sweep(gen, spec, out, plots=True, log=lambda s: print(s, file=sys.stderr))
    with open(out / "summary.csv", newline="") as fh:
        per_target = [
            {
                "target": float(r["target_LogP"]),
                "validity": float(r["validity"]),
                "mean": float(r["LogP_mean"]),
                "mae": float(r["LogP_mae"]),
                "hit_rate": float(r["LogP_hit_rate"]),
            }
            for r in csv.DictReader(fh)
        ]
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "run": args.run,
        "label": args.label,
        "sampling": spec.sample or "run defaults",
        "range_p1_p99": [lo, hi],
        "n_per_target": args.n,
        "seconds": round(time.perf_counter() - t0, 1),
        "validity": overall.get("validity"),
        "logp": overall["LogP"],
        "per_target": per_target,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
