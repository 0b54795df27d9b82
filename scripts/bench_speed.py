#!/usr/bin/env python
"""Training and sampling speed of a SMILES CVAE, for side-by-side runs with the MOSES VAE.

Trains on the 50k MOSES subset for a wall-clock budget (training molecules/s = molecules seen /
seconds in train steps, after 3 warm-up steps), then samples from the trained model under
held-out condition vectors: generation only, + RDKit validity check (parse + canonical SMILES),
+ the conditioned properties measured. One JSON line on stdout.

Presets:
  default      the shipped smiles_default model (GRU encoder 2x128, decoder 1x512, batch 128)
  moses_width  the MOSES VAE's widths: encoder GRU 256 (ours bidirectional: 2x256), decoder
               3 x GRU 512, latent 128, embedding 32 (~the peer's one-hot width), batch 512

    python scripts/bench_speed.py --preset moses_width --seconds 180 --samples 5000
    bash ../shared/bench/peer_moses_vae.sh --data-dir ../shared/data/moses --budget-s 180
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


from bench_mfu import matmul_weights, peak_gflops  # noqa: E402
from bench_train_step import MOSES_WIDTH  # noqa: E402

from seqcvae.chem.mol import canonicalize  # noqa: E402
from seqcvae.chem.properties import analyse_many  # noqa: E402
from seqcvae.config import load_config  # noqa: E402
from seqcvae.data.splits import prepare_run_data  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.recipes.train import diagnostics_validator  # noqa: E402
from seqcvae.training.trainer import Trainer  # noqa: E402

PRESETS = {
    "default": [],
    "moses_width": MOSES_WIDTH,
}


def train_for(trainer: Trainer, seconds: float) -> dict[str, float]:
    ds = trainer.prepared.train
    t = trainer.cfg.train
    batches = ds.batches(t.batch_size, t.seed, 0)
    times, mols, toks, steps = [], 0, 0, 0
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        if i == len(batches):
            batches, i = ds.batches(t.batch_size, t.seed, steps), 0
        b = ds.collate(batches[i])
        i += 1
        t0 = time.perf_counter()
        trainer.train_step(b, beta=min(1.0, steps / 500), lr=t.lr)
        dt = time.perf_counter() - t0
        steps += 1
        if steps > 3:  # warm-up: allocator, first-call overheads
            times.append(dt)
            mols += b.size
            toks += int(b.lengths.sum())
    return {
        "train_steps": steps,
        "train_molecules_per_s": mols / sum(times),
        "train_tokens_per_molecule": toks / mols,
        "train_step_ms_median": 1000 * statistics.median(times),
    }


def held_out_requests(n: int, names: list[str]) -> list[dict[str, float]]:
    import csv

    with gzip.open(ROOT / "data" / "moses_sample" / "test.csv.gz", "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    idx = np.random.default_rng(0).choice(len(rows), size=n, replace=len(rows) < n)
    return [{k: float(rows[i][k]) for k in names} for i in idx]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="moses_width")
    ap.add_argument("--seconds", type=float, default=180.0, help="training budget")
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--sample-batch", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("overrides", nargs="*", help="extra config overrides KEY=VALUE")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [*PRESETS[args.preset], *args.overrides, "train.max_minutes=0"]
    cfg = load_config("smiles_default", overrides)
    prepared = prepare_run_data(cfg, workers=2)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    trainer = Trainer(cfg, run_dir, prepared, validate=diagnostics_validator(cfg), progress=False)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    result: dict = {
        "preset": args.preset,
        "overrides": overrides,
        "parameters": n_params,
        "precision": trainer.precision_label,
        "threads": torch.get_num_threads(),
    }
    result.update(train_for(trainer, args.seconds))

    gen = Generator(trainer.model, prepared.tokenizer, prepared.conditions, cfg)
    requests = held_out_requests(args.samples, [c.name for c in prepared.conditions.continuous])
    t0 = time.perf_counter()
    seqs = gen.sample_sequences(requests, seed=0, batch_size=args.sample_batch)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    canon = [canonicalize(s) for s in seqs]
    t_valid = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyse_many(seqs, gen.measured_properties())
    t_props = time.perf_counter() - t0
    n = len(seqs)
    result.update(
        {
            "samples": n,
            "sample_molecules_per_s": n / t_gen,
            "sample_validated_molecules_per_s": n / (t_gen + t_valid),
            "sample_measured_molecules_per_s": n / (t_gen + t_props),
            "validity": sum(c is not None for c in canon) / n,
            "mean_sample_length_chars": sum(len(s) for s in seqs) / n,
        }
    )
    # Compute bound: matrix-product FLOPs per training token (6 x weights used per token, as in
    # scripts/bench_mfu.py) against this machine's measured matmul peak.
    flops_mol = 6 * matmul_weights(trainer.model) * result["train_tokens_per_molecule"]
    result["model_gflop_per_molecule"] = flops_mol / 1e9
    result["achieved_gflops"] = flops_mol * result["train_molecules_per_s"] / 1e9
    result["peak_gflops_fp32"] = peak_gflops(torch.float32)
    result["peak_gflops_bf16"] = peak_gflops(torch.bfloat16)
    result["molecules_per_s_at_bf16_peak"] = result["peak_gflops_bf16"] * 1e9 / flops_mol
    print(
        json.dumps(
            {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in result.items()}
        )
    )


if __name__ == "__main__":
    main()
