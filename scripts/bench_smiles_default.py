#!/usr/bin/env python
"""Issue-2 acceptance benchmark: train the default config, then measure what users see.

1. Train `smiles_default` (10-minute budget on this machine) unless --run points at a finished run.
   Training speed = molecules / second over the training loop (from metrics.csv).
2. 10,000 prior samples, z ~ p(z|c), with condition vectors drawn from the held-back test sample
   (data/moses_sample/test.csv.gz): validity, uniqueness, novelty vs the training set; sampling
   speed with and without the RDKit check (canonicalise + measure the conditioned properties).
3. LogP control: targets on an even grid over the training LogP range [p1, p99], one sample per
   target, every other condition left free: Spearman(target, measured) and MAE over valid samples.

Prints one JSON object and writes it to RUN/bench_smiles_default.json.

    python scripts/bench_smiles_default.py                 # train + measure (~12 min)
    python scripts/bench_smiles_default.py --run runs/smiles_default   # measure only
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.chem.metrics import set_metrics  # noqa: E402
from seqcvae.chem.properties import analyse_many  # noqa: E402
from seqcvae.evaluation.summary import summarise  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402


def training_speed(run: Path) -> dict[str, float]:
    with open(run / "metrics.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    summary = json.loads((run / "train_summary.json").read_text())
    batch = json.loads((run / "config.json").read_text())["train"]["batch_size"]
    molecules = summary["step"] * batch
    return {
        "train_steps": summary["step"],
        "train_loop_seconds": round(summary["elapsed_s"], 1),
        "train_molecules": molecules,
        "train_molecules_per_s": round(molecules / summary["elapsed_s"], 1),
        "train_tokens_per_s_last": float(rows[-1]["tokens_per_s"]) if rows else float("nan"),
    }


def test_conditions(names: list[str], n: int, seed: int) -> list[dict[str, float]]:
    with gzip.open(ROOT / "data" / "moses_sample" / "test.csv.gz", "rt") as fh:
        rows = list(csv.DictReader(fh))
    idx = np.random.default_rng(seed).choice(len(rows), size=n, replace=len(rows) < n)
    return [{k: float(rows[i][k]) for k in names} for i in idx]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", help="finished run directory (skip training)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_smiles_default"))
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--logp-targets", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("overrides", nargs="*", help="config overrides for training")
    args = ap.parse_args()

    result: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "cpus": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if args.run:
        run = Path(args.run)
    else:
        from seqcvae.config import load_config
        from seqcvae.recipes.train import train

        t0 = time.perf_counter()
        run = train(load_config("smiles_default", args.overrides), Path(args.out), progress=False)
        result["train_wall_seconds"] = round(time.perf_counter() - t0, 1)
    result.update(training_speed(run))

    gen = Generator.load(run)
    result["sampling"] = dict(vars(gen.default_settings()))
    names = [c.name for c in gen.conditions.continuous]
    reference = gen.reference_set()

    # --- prior samples under test-set condition vectors -----------------------------------
    requests = test_conditions(names, args.n, args.seed)
    t0 = time.perf_counter()
    seqs = gen.sample_sequences(requests, seed=args.seed)
    t_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    analysed = analyse_many(seqs, gen.measured_properties())
    t_check = time.perf_counter() - t0
    m = set_metrics([c for c, _ in analysed], reference)
    result.update(
        {
            "prior_samples": len(seqs),
            "validity": round(m["validity"], 4),
            "uniqueness": round(m["uniqueness"], 4),
            "novelty": round(m["novelty"], 4),
            "sample_molecules_per_s": round(len(seqs) / t_sample, 1),
            "sample_and_rdkit_check_molecules_per_s": round(len(seqs) / (t_sample + t_check), 1),
        }
    )
    plain = gen.sample_sequences(
        requests, seed=args.seed, settings=gen.default_settings(temperature=1.0, top_p=1.0)
    )
    result["validity_plain_sampling_t1"] = round(
        set_metrics([c for c, _ in analyse_many(plain, [])])["validity"], 4
    )
    free = gen.sample_sequences([{}] * 2000, seed=args.seed + 1)
    result["validity_unconditioned_2k"] = round(
        set_metrics([c for c, _ in analyse_many(free, [])])["validity"], 4
    )

    # --- LogP control across the data range ------------------------------------------------
    if "LogP" in names:
        q = next(c for c in gen.conditions.continuous if c.name == "LogP").quantiles
        targets = np.linspace(q["p01"], q["p99"], args.logp_targets)
        recs = gen.generate([{"LogP": float(t)} for t in targets], seed=args.seed + 2)
        s = summarise(gen, recs, reference)
        p = s["properties"]["LogP"]
        result.update(
            {
                "logp_targets": [round(q["p01"], 3), round(q["p99"], 3), args.logp_targets],
                "logp_validity": round(s["validity"], 4),
                "logp_spearman": round(p["spearman"], 4),
                "logp_mae": round(p["mae"], 4),
            }
        )
    text = json.dumps(result, indent=2)
    (run / "bench_smiles_default.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
