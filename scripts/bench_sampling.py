#!/usr/bin/env python
"""Sampling speed of a trained run, with and without the two sampling-speed changes of issue 7:
dropping finished rows from the decoder state, and bfloat16 GRU products. Interleaved repeats.

    python scripts/bench_sampling.py runs/bench_smiles_default --n 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.generation import generator as generator_module  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.generation.sampling import decode_tokens  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    gen = Generator.load(args.run, precision="fp32")
    requests = [{}] * args.n
    variants = {
        "fp32, all rows to the end": (None, False),
        "fp32, finished rows dropped": (None, True),
        "bf16 products, finished rows dropped": (torch.bfloat16, True),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    lengths = 0.0
    for _ in range(args.repeats):
        for name, (dtype, drop) in variants.items():
            gen.model.set_matmul_dtype(dtype)

            def decode(*a, _drop=drop, **kw):  # type: ignore[no-untyped-def]
                return decode_tokens(*a, drop_finished=_drop, **kw)

            with mock.patch.object(generator_module, "decode_tokens", decode):
                t0 = time.perf_counter()
                seqs = gen.sample_sequences(requests, seed=0)
                times[name].append(time.perf_counter() - t0)
            lengths = sum(map(len, seqs)) / len(seqs)
    base = statistics.median(times["fp32, all rows to the end"])
    out = {
        name: {
            "molecules_per_s": round(args.n / statistics.median(t), 1),
            "speedup": round(base / statistics.median(t), 2),
        }
        for name, t in times.items()
    }
    print(json.dumps({"run": args.run, "n": args.n, "mean_length_chars": round(lengths, 1), **out}))


if __name__ == "__main__":
    main()
