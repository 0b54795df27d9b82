#!/usr/bin/env python
"""Issue-14 trade-off row of one SMILES run: does z carry the molecule, and at what cost?

On held-out molecules (default: 1,000 of the MOSES test split, never trained on):
- greedy reconstruction from the posterior mean under the molecule's own properties, as an exact
  canonical match (and, with --sampled K, of K draws z ~ q(z|x) per molecule);
- rate (KL per molecule), distortion (reconstruction NLL), IW-NLL, active units, mutual
  information (seqcvae.evaluation.diagnostics);
prior samples (z ~ N(0, I), no condition) at T = 1 without nucleus: validity, uniqueness, novelty
(also with the SMILES syntax mask, sample.grammar: prior_T1_grammar);
property control: LogP targets on an even grid over the training range [p1, p99], one sample each,
other conditions free, at the run's own sampling settings: Spearman and MAE (RDKit);
how much of each property z repeats when the property is given (property_r2_from_z_given_c: R^2
of a linear probe on mu(x, c), 0 = z leaves it to the condition).

    python scripts/bench_latent.py runs/smiles_latent [--test FILE] [--n 1000] [--prior 10000]

Prints one JSON object and writes it to RUN/bench_latent.json (./bench_latent.json for pretrained:NAME).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.chem.metrics import property_control, set_metrics  # noqa: E402
from seqcvae.data.dataset import TokenDataset  # noqa: E402
from seqcvae.data.tables import read_sequences  # noqa: E402
from seqcvae.evaluation.diagnostics import evaluate_model  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.latent.reconstruct import reconstruct  # noqa: E402
from seqcvae.latent.seeds import encode_seeds, usable_seeds  # noqa: E402

DEFAULT_TEST = ROOT.parent / "shared" / "data" / "moses" / "test.csv.gz"


def held_out(gen: Generator, path: Path, n: int, seed: int) -> list:
    smiles = read_sequences(path)
    order = np.random.default_rng(seed).permutation(len(smiles))
    return usable_seeds(gen, [smiles[i] for i in order], n)[0]


def logp_control(gen: Generator, n: int, seed: int, **sampling: Any) -> dict[str, float]:
    """LogP control: n targets evenly over the training range [p1, p99], one sample each, other
    conditions free, at the run's sampling settings unless `sampling` says otherwise: MAE and
    Spearman of RDKit's LogP against the targets (property_control), and the samples' validity."""
    logp = next(c for c in gen.conditions.continuous if c.name == "LogP")
    lo, hi = logp.quantiles.get("p01", logp.minimum), logp.quantiles.get("p99", logp.maximum)
    targets = [{"LogP": float(v)} for v in np.linspace(lo, hi, n)]
    records = gen.generate(targets, seed=seed, **sampling)
    control = property_control([r.as_dict() for r in records], ["LogP"])["LogP"]
    control["validity"] = float(np.mean([r.valid for r in records]))
    return control


def property_probe(gen: Generator, seeds: list) -> dict[str, float]:
    """How much of each property z still says when the property is given to the model: R^2 of a
    linear regression of the property on the posterior mean mu(x, c) under the molecule's own
    properties, fitted on 70% of the seeds and scored on the rest (0: z leaves the property to
    c, as a condition adversary aims for; near 1: z repeats it)."""
    mu = encode_seeds(gen, seeds)[0].double()
    design = torch.cat([mu, torch.ones(len(mu), 1, dtype=mu.dtype)], dim=1)
    cut = int(0.7 * len(seeds))
    out = {}
    for name in gen.measured_properties():
        y = torch.tensor([s.properties[name] for s in seeds], dtype=torch.float64).unsqueeze(1)
        fit = torch.linalg.lstsq(design[:cut], y[:cut]).solution
        resid = design[cut:] @ fit - y[cut:]
        out[name] = round(float(1 - resid.pow(2).mean() / y[cut:].var()), 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--test", default=str(DEFAULT_TEST))
    ap.add_argument("--n", type=int, default=1000, help="held-out molecules")
    ap.add_argument("--sampled", type=int, default=0, help="also K draws z ~ q per molecule")
    ap.add_argument("--prior", type=int, default=10000, help="prior samples at T=1")
    ap.add_argument("--control", type=int, default=2000, help="LogP targets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    gen = Generator.load(args.run)
    t0 = time.perf_counter()
    seeds = held_out(gen, Path(args.test), args.n, args.seed)
    _, rec = reconstruct(gen, seeds, sampled=args.sampled, seed=args.seed, workers=args.workers)
    t_rec = time.perf_counter() - t0
    probe = property_probe(gen, seeds)

    ds, _ = TokenDataset.build(
        [s.given for s in seeds],
        gen.tokenizer,
        gen._encode_requests([s.request for s in seeds]),
        gen.config.data.max_length,
    )
    diag = evaluate_model(gen.model, ds, k=20, reconstruction=False, seed=args.seed)

    t0 = time.perf_counter()
    plain = {"temperature": 1.0, "top_p": 1.0, "top_k": 0}
    prior = gen.generate({}, n=args.prior, seed=args.seed, workers=args.workers, **plain)
    t_prior = time.perf_counter() - t0
    ref = gen.reference_set(workers=args.workers)
    prior_metrics = set_metrics([r.canonical for r in prior], ref)
    # the same draws with the SMILES syntax mask (sample.grammar)
    masked = gen.generate({}, n=args.prior, seed=args.seed, workers=args.workers, grammar=True, **plain)
    prior_grammar = set_metrics([r.canonical for r in masked], ref)

    control = logp_control(gen, args.control, args.seed, workers=args.workers)

    summary_file = Path(args.run) / "train_summary.json"
    meta = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    out = {
        "run": args.run,
        "checkpoint_step": gen.source.get("step"),
        "train_elapsed_s": meta.get("elapsed_s"),
        "held_out_file": args.test,
        "reconstruction": rec,
        "rate_kl": diag["kl"],
        "distortion_rec": diag["rec"],
        "nelbo": diag["nelbo"],
        "iw_nll_k20": diag["iw_nll"],
        "active_units": diag["active_units"],
        "latent_dim": diag["latent_dim"],
        "mutual_info": diag["mutual_info"],
        "property_r2_from_z_given_c": probe,
        "prior_T1": prior_metrics,
        "prior_T1_grammar": prior_grammar,
        "prior_seconds": round(t_prior, 1),
        "reconstruct_seconds": round(t_rec, 1),
        "logp_control": control,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    print(json.dumps(out, indent=2))
    # next to a run; for pretrained:NAME (inside the package) in the working directory
    where = Path(args.run) if Path(args.run).is_dir() else Path(".")
    (where / "bench_latent.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
