#!/usr/bin/env python
"""CPU profile of training steps and one sampling batch of the default model (torch.profiler).

    python scripts/profile_train_step.py [--steps 5] [--batch-size 256] [KEY=VALUE overrides]

Prints the top operators by self CPU time for (a) training steps and (b) a 1000-molecule
sampling batch. This is how the O(T^2) zero-fill in torch.nn.GRU's CPU backward was found
(see seqcvae/models/recurrent.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.config import load_config  # noqa: E402
from seqcvae.data.splits import prepare_run_data  # noqa: E402
from seqcvae.generation.sampling import decode_tokens  # noqa: E402
from seqcvae.recipes.train import diagnostics_validator  # noqa: E402
from seqcvae.training.trainer import Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=0, help="0: the config's batch size")
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--bf16", action="store_true", help="bfloat16 matrix products")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = load_config("smiles_default", ["data.limit=8000", *args.overrides])
    bs = args.batch_size or cfg.train.batch_size
    prepared = prepare_run_data(cfg)
    trainer = Trainer(
        cfg, Path("/tmp/seqcvae-profile"), prepared, validate=diagnostics_validator(cfg), progress=False
    )
    if args.bf16:
        trainer.model.set_matmul_dtype(torch.bfloat16)
    batches = prepared.train.batches(bs, 0, 0)
    for i in range(2):  # warm-up
        trainer.train_step(prepared.train.collate(batches[i]), 0.5, 1e-3)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(2, 2 + args.steps):
            trainer.train_step(prepared.train.collate(batches[i]), 0.5, 1e-3)
    print(f"== training: {args.steps} steps of batch {bs}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))

    model = trainer.model
    c = model.embed_conditions(
        torch.zeros(1000, prepared.conditions.num_continuous),
        torch.zeros(1000, prepared.conditions.num_continuous),
        torch.zeros(1000, 0, dtype=torch.long),
    )
    z = torch.randn(1000, model.shape.latent_dim)
    from seqcvae.generation.sampling import SamplingSettings

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        decode_tokens(model, z, c, SamplingSettings(), seed=0)
    print("== sampling: one batch of 1000")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
