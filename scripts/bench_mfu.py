#!/usr/bin/env python
"""Achieved fraction of this CPU's matmul peak during training, per run.

Peak: best of 10 timings of a 2048^3 fp32 (and bf16) matrix product, all torch threads.
Model FLOPs per training token: 6 x (weights used in matrix products per token: embedding
projections, GRU input/recurrent weights, attention/MLP weights, output layer) plus, for
Transformers, 12 x layers x d_model x mean length for the attention scores (forward + backward).
Tokens/s: mean of the run's logged training tokens/s (metrics.csv).

    python scripts/bench_mfu.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.models.checkpoint import load_checkpoint  # noqa: E402
from seqcvae.models.cvae import CVAE, CVAEShape  # noqa: E402


def peak_gflops(dtype: torch.dtype, n: int = 2048) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(10):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def matmul_weights(model: CVAE) -> int:
    """Weights of every Linear applied once per token (per-sequence projections excluded)."""
    per_sequence = {
        "decoder.init",
        "decoder.static",
        "decoder.prefix",
        "encoder.head",
        "encoder.cond",
        "condition",
        "prior",
    }
    total = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and not any(name.startswith(p) for p in per_sequence):
            total += mod.weight.numel()
    return total


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:]]
    peak32, peak16 = peak_gflops(torch.float32), peak_gflops(torch.bfloat16)
    print(
        f"peak matmul: fp32 {peak32:.1f} GFLOP/s, bf16 {peak16:.1f} GFLOP/s "
        f"({torch.get_num_threads()} threads)"
    )
    for run in runs:
        ckpt = load_checkpoint(run, which="last")
        shape = CVAEShape(**ckpt.meta["model_shape"])
        model = CVAE(shape)
        with open(run / "metrics.csv") as fh:
            rows = [r for r in csv.DictReader(fh) if r["split"] == "train" and r["step"] != "1"]
        tok_s = sum(float(r["tokens_per_s"]) for r in rows) / len(rows)
        seq_s = sum(float(r["sequences_per_s"]) for r in rows) / len(rows)
        mean_len = tok_s / seq_s
        flops = 6 * matmul_weights(model)
        for layers, d, kind in (
            (shape.encoder_layers, shape.encoder_hidden, shape.encoder),
            (shape.decoder_layers, shape.decoder_hidden, shape.decoder),
        ):
            if kind == "transformer":
                flops += 12 * layers * d * mean_len
        achieved = flops * tok_s / 1e9
        precision = ckpt.meta.get("precision", "unrecorded")
        print(
            json.dumps(
                {
                    "run": str(run),
                    "encoder": shape.encoder,
                    "decoder": shape.decoder,
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "precision": precision,
                    "train_tokens_per_s": round(tok_s),
                    "model_flops_per_token": round(flops),
                    "achieved_gflops": round(achieved, 1),
                    "fraction_of_fp32_peak": round(achieved / peak32, 3),
                    "fraction_of_bf16_peak": round(achieved / peak16, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
