#!/usr/bin/env python
"""Where invalid prior samples come from (issue 14): validity at T = 1 (no nucleus) of SMILES
decoded from z drawn several ways, with the conditions unspecified:

- z ~ N(0, I), the prior;
- z ~ q(z|x) for held-out molecules x: the aggregate posterior, what a perfect learned prior gives;
- z = mu(x): the posterior means (the decoder's own sampling noise alone);
- a full-covariance Gaussian fitted to aggregate-posterior draws;
- a RealNVP flow (8 affine couplings) fitted to aggregate-posterior draws of training molecules:
  an ex-post learned prior (skipped with --flow-steps 0);
- midpoints of two held-out molecules' means, as they are and scaled out to the means' own norm
  (does the decoder fail more where z is long?);
- the posterior means decoded greedily;
- a mixture of the training molecules' own posteriors (the ELBO-optimal prior: VampPrior with the
  data as pseudo-inputs), as it is and with each component's spread inflated 1.5 and 2 times,
  and midpoints of two training molecules' means plus one molecule's posterior noise. For
  these, `copies` is the fraction of distinct valid samples that are molecules whose posteriors
  were used: validity bought by decoding the training molecules back is memorisation.

The gap prior -> aggregate posterior is the prior's holes; aggregate posterior -> 100% is the
decoder's token-level sampling at T = 1.

    python scripts/bench_prior_holes.py pretrained:moses-latent [--n 2000] [--fit 40000]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.chem.mol import canonicalize  # noqa: E402
from seqcvae.data.tables import read_sequences  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.latent.seeds import usable_seeds  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "moses"


class Coupling(nn.Module):
    """x -> x * exp(s(x_masked)) + t(x_masked) on the unmasked half (tanh-bounded scales)."""

    def __init__(self, dim: int, mask: torch.Tensor, hidden: int = 256):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, 2 * dim),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _st(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x * self.mask).chunk(2, -1)
        return torch.tanh(s) * (1 - self.mask), t * (1 - self.mask)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._st(x)
        return x * self.mask + (1 - self.mask) * (x * torch.exp(s) + t), s.sum(-1)

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        s, t = self._st(u)
        return u * self.mask + (1 - self.mask) * ((u - t) * torch.exp(-s))


def fit_flow(draw, dim: int, steps: int, gen: torch.Generator) -> tuple[nn.ModuleList, list[float]]:
    masks = []
    for _ in range(8):
        m = torch.zeros(dim)
        m[torch.randperm(dim, generator=gen)[: dim // 2]] = 1
        masks.append(m)
    flows = nn.ModuleList(Coupling(dim, m) for m in masks)
    opt = torch.optim.Adam(flows.parameters(), 1e-3)
    curve = []
    for step in range(steps):
        x = draw(512)
        logdet = torch.zeros(len(x))
        for f in flows:
            x, ld = f(x)
            logdet = logdet + ld
        nll = (0.5 * x.pow(2).sum(-1) + 0.5 * dim * math.log(2 * math.pi) - logdet).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
        if step % 500 == 0 or step == steps - 1:
            curve.append(round(float(nll), 3))
    return flows, curve


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--test", default=str(SHARED / "test.csv.gz"), help="held-out molecules")
    ap.add_argument(
        "--train",
        default=str(ROOT / "data" / "moses_sample" / "train.csv.gz"),
        help="molecules whose posteriors the learned priors are fitted to",
    )
    ap.add_argument("--n", type=int, default=2000, help="samples per way of drawing z")
    ap.add_argument("--fit", type=int, default=40000, help="training molecules for the fits")
    ap.add_argument("--flow-steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    gen = Generator.load(args.run)
    t0 = time.perf_counter()
    test = read_sequences(args.test)
    order = np.random.default_rng(args.seed).permutation(len(test))
    seeds = usable_seeds(gen, [test[i] for i in order[: 2 * args.n]], args.n)[0]
    mu, logvar = gen.posterior([s.given for s in seeds])
    dim = mu.shape[1]
    fit_smiles = read_sequences(args.train)[: args.fit]
    fit_mu, fit_lv = gen.posterior(fit_smiles)
    fit_sd = (0.5 * fit_lv).exp()

    fit_set = {canonicalize(s) for s in fit_smiles}

    def validity(z: torch.Tensor, copies: bool = False) -> dict[str, float]:
        recs = gen.decode_latents(z, [{}] * len(z), seed=1, strategy="sample", temperature=1.0, top_p=1.0)
        valid = [r.canonical for r in recs if r.valid]
        out = {
            "validity": round(len(valid) / len(recs), 4),
            "uniqueness": round(len(set(valid)) / max(1, len(valid)), 4),
        }
        if copies:
            out["copies"] = round(len(set(valid) & fit_set) / max(1, len(set(valid))), 4)
        return out

    def mixture(n: int, spread: float) -> torch.Tensor:
        idx = torch.randint(0, len(fit_mu), (n,), generator=g)
        return fit_mu[idx] + spread * torch.randn(n, dim, generator=g) * fit_sd[idx]

    def noisy_midpoints(n: int) -> torch.Tensor:
        i, j = (torch.randint(0, len(fit_mu), (n,), generator=g) for _ in range(2))
        return (fit_mu[i] + fit_mu[j]) / 2 + torch.randn(n, dim, generator=g) * fit_sd[i]

    def agg(n: int) -> torch.Tensor:  # training molecules' aggregate posterior, for the fits
        return mixture(n, 1.0)

    draws = agg(50000)
    cov = torch.cov(draws.T) + 1e-5 * torch.eye(dim)
    chol = torch.linalg.cholesky(cov)
    half = len(mu) // 2
    mid = (mu[:half] + mu[half : 2 * half]) / 2
    stretched = mid * (mu[:half].norm(dim=1, keepdim=True) / mid.norm(dim=1, keepdim=True))
    greedy = gen.decode_latents(mu, [{}] * len(mu))
    out = {
        "run": args.run,
        "samples": len(seeds),
        "prior N(0,I)": validity(torch.randn(len(seeds), dim, generator=g)),
        "aggregate posterior z~q(z|x), held-out x": validity(
            mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
        ),
        "posterior means z=mu(x)": validity(mu),
        "full-covariance Gaussian fit": validity(
            draws.mean(0) + torch.randn(len(seeds), dim, generator=g) @ chol.T
        ),
        "posterior means, greedy": {"validity": round(sum(r.valid for r in greedy) / len(greedy), 4)},
        "midpoints of two means": validity(mid),
        "mixture of training posteriors": validity(mixture(len(seeds), 1.0), copies=True),
        "mixture of training posteriors, spread x1.5": validity(mixture(len(seeds), 1.5), copies=True),
        "mixture of training posteriors, spread x2": validity(mixture(len(seeds), 2.0), copies=True),
        "noisy midpoints of two training means": validity(noisy_midpoints(len(seeds)), copies=True),
        "midpoints scaled to the means' norm": validity(stretched),
        "norms: mu, midpoints, prior draws": [
            round(float(mu.norm(dim=1).mean()), 2),
            round(float(mid.norm(dim=1).mean()), 2),
            round(math.sqrt(dim), 2),
        ],
        "N(0,I) nll of the same draws": round(
            float((0.5 * draws.pow(2).sum(-1) + 0.5 * dim * math.log(2 * math.pi)).mean()), 3
        ),
    }
    if args.flow_steps > 0:
        flows, curve = fit_flow(agg, dim, args.flow_steps, g)
        with torch.no_grad():
            u = torch.randn(args.n, dim, generator=g)
            for f in reversed(flows):
                u = f.inverse(u)
        out["RealNVP flow fit"] = validity(u)
        out["flow nll curve (nats, every 500 steps)"] = curve
    out |= {
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
