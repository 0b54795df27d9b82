#!/usr/bin/env python
"""What the prior's temperature (sample.latent_temperature) buys and costs for a SMILES model.

For each latent temperature tau, N unconditional samples (z = tau * eps, every condition
unspecified) at token temperature 1 without top-k / top-p, optionally with the SMILES syntax mask,
scored with the MOSES metrics (validity, unique@N, novelty against --train, FCD / SNN / Frag /
Scaf against --test, IntDiv) by `seqcvae evaluate --smiles`'s code.

    python scripts/bench_latent_temperature.py pretrained:moses-latent --taus 1,0.9,0.8,0.7 \\
        [--grammar] [--n 10000] [--test ../shared/data/moses/test_5k.csv.gz] \\
        [--train ../shared/data/moses/train.csv.gz]

With --control K, also K LogP targets evenly over the training range [p1, p99] per tau, one
sample each at the run's own sampling settings (and --guidance): LogP MAE, Spearman, validity.

Prints one JSON object (a row per tau) and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_latent import logp_control  # noqa: E402

from seqcvae.evaluation.references import evaluate_smiles_file  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402

MOSES = ROOT.parent / "shared" / "data" / "moses"
KEYS = (
    "valid",
    "unique@10000",
    "Novelty",
    "FCD/Test",
    "SNN/Test",
    "Frag/Test",
    "Scaf/Test",
    "IntDiv",
    "logp_mae",
    "logp_spearman",
    "control_validity",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--taus", default="1,0.9,0.8,0.7")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--grammar", action="store_true", help="with the SMILES syntax mask")
    ap.add_argument("--test", default=str(MOSES / "test_5k.csv.gz"))
    ap.add_argument("--train", default=str(MOSES / "train.csv.gz"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--control", type=int, default=0, help="LogP targets per tau (0 = none)")
    ap.add_argument("--guidance", type=float, default=None, help="for the LogP targets")
    args = ap.parse_args()
    if not Path(args.test).exists():
        print(f"skipped: {args.test} is absent")
        return 0
    gen = Generator.load(args.run)
    plain = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "grammar": args.grammar}
    rows = []
    for tau in (float(t) for t in args.taus.split(",")):
        t0 = time.perf_counter()
        records = gen.generate({}, n=args.n, seed=args.seed, check=False, latent_temperature=tau, **plain)
        sample_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "samples.smi"
            path.write_text("".join(r.sequence + "\n" for r in records))
            report = evaluate_smiles_file(
                path,
                {"Test": args.test},
                train=args.train if Path(args.train).exists() else None,
                workers=args.workers,
            )
        moses = report["moses"]
        row = {"latent_temperature": tau, "sample_seconds": round(sample_s, 1)}
        row.update({k: moses.get(k) for k in KEYS if k in moses})
        if args.control:
            c = logp_control(gen, args.control, args.seed, latent_temperature=tau, guidance=args.guidance)
            row.update(logp_mae=c["mae"], logp_spearman=c["spearman"], control_validity=c["validity"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {
        "run": args.run,
        "n": args.n,
        "grammar": args.grammar,
        "test": args.test,
        "train": args.train,
        "rows": rows,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(out, indent=2))
    keys = [k for k in KEYS if any(k in r for r in rows)]
    print("| latent temperature | " + " | ".join(keys) + " |")
    print("| ---: " * (len(keys) + 1) + "|")
    for r in rows:
        cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k)) for k in keys]
        print(f"| {r['latent_temperature']:g} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
