#!/usr/bin/env python
"""Would a conditional prior p(z | c), fitted after training, aim z at the requested properties?

Encodes --molecules training molecules of a SMILES run under their own RDKit properties, fits a
`ConditionalPrior` (c -> mean, log-variance) to minimise KL(q(z|x,c) || p(z|c)) with the encoder
and decoder frozen (each property hidden with probability 0.5, all hidden in 20% of rows, as
requests leave them), then measures LogP control (--control targets evenly over the training range
[p1, p99], one sample each, the run's sampling settings; also at T = 1) and unconditional validity
at T = 1, under the standard prior and under the fitted one.

    python scripts/bench_conditional_prior.py pretrained:moses-latent \
        --data ../shared/data/moses/train_50k_props.csv --column smiles

Prints one JSON object. The fitted prior is not saved (a measurement, not a tool).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.chem.metrics import property_control  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.models.cvae import ConditionalPrior  # noqa: E402


def fit(gen: Generator, smiles: list[str], props: list[dict[str, float]], steps: int, seed: int):
    m = gen.model
    mu, logvar = gen.posterior(smiles, props)
    enc = gen._encode_requests(props)
    values, present = torch.from_numpy(enc.values), torch.from_numpy(enc.present)
    tags = torch.from_numpy(enc.tags)
    prior = ConditionalPrior(m.shape.condition_dim, m.shape.latent_dim)
    opt = torch.optim.Adam(prior.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    curve = []
    for step in range(steps):
        idx = torch.randint(0, len(smiles), (512,), generator=g)
        keep = (torch.rand(512, values.shape[1], generator=g) < 0.5).float()
        shown = present[idx] * keep * (torch.rand(512, 1, generator=g) >= 0.2).float()
        with torch.no_grad():
            c = m.embed_conditions(values[idx] * shown, shown, tags[idx])
        pm, plv = prior(c)
        qm, qlv = mu[idx], logvar[idx]
        kl = 0.5 * (plv - qlv + (qlv.exp() + (qm - pm) ** 2) / plv.exp() - 1).sum(1).mean()
        opt.zero_grad()
        kl.backward()
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            curve.append((step, round(float(kl.detach()), 3)))
    standard = float((0.5 * (-logvar + logvar.exp() + mu**2 - 1)).sum(1).mean())
    return prior.eval(), curve, standard


def measure(gen: Generator, n_control: int, n_prior: int, seed: int) -> dict:
    logp = next(c for c in gen.conditions.continuous if c.name == "LogP")
    lo, hi = logp.quantiles.get("p01", logp.minimum), logp.quantiles.get("p99", logp.maximum)
    targets = [{"LogP": float(v)} for v in np.linspace(lo, hi, n_control)]
    out = {}
    for label, kw in (("run_settings", {}), ("T1", {"temperature": 1.0, "top_p": 1.0})):
        recs = gen.generate(targets, seed=seed, **kw)
        ctrl = property_control([r.as_dict() for r in recs], ["LogP"])["LogP"]
        out[label] = {"logp_mae": ctrl.get("mae"), "validity": float(np.mean([r.valid for r in recs]))}
    prior = gen.generate({}, n=n_prior, seed=seed, temperature=1.0, top_p=1.0)
    out["prior_validity_T1"] = float(np.mean([r.valid for r in prior]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--data", required=True, help="table of training molecules with their properties")
    ap.add_argument("--column", default="smiles")
    ap.add_argument("--skip", type=int, default=20000, help="rows skipped first (default 20000)")
    ap.add_argument("--molecules", type=int, default=30000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--control", type=int, default=2000)
    ap.add_argument("--prior", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = Generator.load(args.run)
    names = [c.name for c in gen.conditions.continuous]
    with open(args.data, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[args.skip : args.skip + args.molecules]
    smiles = [r[args.column] for r in rows]
    props = [{n: float(r[n]) for n in names} for r in rows]
    t0 = time.perf_counter()
    before = measure(gen, args.control, args.prior, args.seed)
    prior, curve, standard_kl = fit(gen, smiles, props, args.steps, args.seed)
    gen.model.prior = prior
    after = measure(gen, args.control, args.prior, args.seed)
    report = {
        "run": args.run,
        "molecules": len(smiles),
        "kl_to_standard_normal": round(standard_kl, 3),
        "kl_to_fitted_prior_curve": curve,
        "standard_prior": before,
        "fitted_conditional_prior": after,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
