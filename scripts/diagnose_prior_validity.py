#!/usr/bin/env python
"""Where a SMILES model's invalid prior samples come from: the prior's holes or the decoder.

Decodes N rows at token temperature 1 (no top-k / top-p, no syntax mask, every condition
unspecified) from z taken several ways: the prior N(0, I); a full-covariance Gaussian fitted to
the aggregate posterior; draws z ~ q(z | x) and the means mu(x) of M training molecules (encoded
without conditions); midpoints of two molecules' means, as they are and scaled to the means'
norm. If posterior draws decode valid far more often than prior draws, the prior's holes are the
gap (a learned prior would help); if not, the decoder is.

    python scripts/diagnose_prior_validity.py pretrained:moses-latent \\
        [--train ../shared/data/moses/train.csv.gz] [--molecules 20000] [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.data.tables import read_sequences  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402

MOSES = ROOT.parent / "shared" / "data" / "moses"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--train", default=str(MOSES / "train.csv.gz"))
    ap.add_argument("--molecules", type=int, default=20000, help="training molecules encoded")
    ap.add_argument("--n", type=int, default=2000, help="rows decoded per source of z")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not Path(args.train).exists():
        print(f"skipped: {args.train} is absent")
        return 0
    torch.manual_seed(args.seed)
    gen = Generator.load(args.run)
    smiles = read_sequences(args.train)
    pick = np.random.default_rng(args.seed).permutation(len(smiles))[: args.molecules]
    mu, logvar = gen.posterior([smiles[i] for i in pick])
    drawn = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    mean, cov = drawn.mean(0), torch.cov(drawn.T)
    n, dim = args.n, mu.shape[1]
    a, b = mu[:n], mu[n : 2 * n]
    mid = (a + b) / 2
    scaled = mid * (a.norm(dim=1, keepdim=True) / mid.norm(dim=1, keepdim=True))
    fitted = mean + torch.randn(n, dim) @ torch.linalg.cholesky(cov).T
    sources = {
        "prior N(0, I)": torch.randn(n, dim),
        "Gaussian fitted to the aggregate posterior": fitted,
        "z ~ q(z | x)": drawn[:n],
        "posterior means": mu[:n],
        "midpoints of two means": mid,
        "midpoints scaled to the means' norm": scaled,
    }
    plain = {"strategy": "sample", "temperature": 1.0, "top_p": 1.0, "top_k": 0}
    out: dict[str, float] = {}
    for name, z in sources.items():
        recs = gen.decode_latents(z, [{}] * len(z), seed=args.seed + 1, **plain)
        out[name] = sum(r.valid for r in recs) / len(recs)
        print(f"{name}: validity {out[name]:.3f}", flush=True)
    greedy = gen.decode_latents(mu[:n], [{}] * n)
    out["posterior means, greedy"] = sum(r.valid for r in greedy) / n
    eig = torch.linalg.eigvalsh(cov)
    report = {
        "run": args.run,
        "validity": out,
        "aggregate_posterior": {
            "variance_per_dim_mean": float(drawn.var(0).mean()),
            "covariance_eigenvalues_min_max": [float(eig.min()), float(eig.max())],
            "mean_norm_of_mu": float(mu.norm(dim=1).mean()),
            "mean_posterior_sd": float((0.5 * logvar).exp().mean()),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
