#!/usr/bin/env python
"""The GRU step loop's gate arithmetic (seqcvae/models/gru.py: gru_gates, linear) against the
written-out formula it replaced, A/B in one process on this process's CPU time, so that other
jobs on a shared machine count less than in wall-clock timings.

    python scripts/bench_gru_cell.py cell                 # the cell alone, fwd+bwd and no_grad
    python scripts/bench_gru_cell.py train [--steps 54]   # paired training steps, smiles_default
    python scripts/bench_gru_cell.py sample [--rounds 10] # sampling batches of 1000
    python scripts/bench_gru_cell.py train --aa           # A/A: both sides written out (the noise)

train: each batch of 128 is trained once per side, in alternating order, bf16 products, 1 thread
(what smiles_default uses on a CPU with fast bf16); the speed-up is sum(ref) / sum(new) and the
median of the per-batch ratios. Both sides give the same numbers (tests/test_gru.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.models import gru, recurrent  # noqa: E402
from seqcvae.models.gru import GRULayer  # noqa: E402


def written_out_gates(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


def written_out_linear(
    x: torch.Tensor, layer: torch.nn.Linear, dtype: torch.dtype | None, weight: torch.Tensor | None = None
) -> torch.Tensor:
    if dtype is None or dtype == x.dtype:
        return layer(x)
    w = recurrent.cast_weight(layer, dtype) if weight is None else weight
    return F.linear(x.to(dtype), w).to(x.dtype) + layer.bias


def written_out_cell(self: GRULayer, gi: torch.Tensor, h: torch.Tensor, w_hh: Any = None) -> torch.Tensor:
    return written_out_gates(gi, gru.linear(h, self.w_hh, self.matmul_dtype, w_hh), h)


def written_out_forward(self: GRULayer, x: torch.Tensor, h0: torch.Tensor, static: Any = None) -> Any:
    gi = gru.linear(x, self.w_ih, self.matmul_dtype)
    if static is not None:
        gi = gi + static.unsqueeze(1)
    w_hh = recurrent.cast_weight(self.w_hh, self.matmul_dtype) if self.matmul_dtype is not None else None
    h, outs = h0, []
    for g in gi.unbind(1):
        h = self.cell(g, h, w_hh)
        outs.append(h)
    return torch.stack(outs, dim=1)


SIDES = {
    "ref": (written_out_linear, written_out_cell, written_out_forward),
    "new": (gru.linear, GRULayer.cell, GRULayer.forward),
}


def use(side: str) -> None:
    linear, GRULayer.cell, GRULayer.forward = SIDES[side]  # type: ignore[method-assign]
    gru.linear = recurrent.linear = linear  # the cell's products and the stack's sampling steps


def order(i: int) -> list[str]:
    return ["ref", "new"] if i % 2 == 0 else ["new", "ref"]


def bench_cell(rounds: int = 12, reps: int = 40) -> None:
    gates = {"ref": written_out_gates, "new": gru.gru_gates}
    for b, hid in ((128, 128), (128, 512), (1000, 512), (16, 512)):
        torch.manual_seed(0)
        leaves = [torch.randn(b, 3 * hid, requires_grad=True), torch.randn(b, 3 * hid, requires_grad=True)]
        leaves.append(torch.randn(b, hid, requires_grad=True))
        g = torch.randn(b, hid)

        def train(f: Any, leaves: list[torch.Tensor] = leaves, g: torch.Tensor = g) -> None:
            torch.autograd.grad(f(*leaves), leaves, g)

        def sample(f: Any, leaves: list[torch.Tensor] = leaves) -> None:
            with torch.no_grad():
                f(*leaves)

        for mode, run in (("fwd+bwd", train), ("no_grad", sample)):
            us: dict[str, list[float]] = {"ref": [], "new": []}
            for i in range(rounds):
                for side in order(i):
                    run(gates[side])
                    t0 = time.process_time()
                    for _ in range(reps):
                        run(gates[side])
                    us[side].append((time.process_time() - t0) / reps * 1e6)
            ref, new = statistics.median(us["ref"]), statistics.median(us["new"])
            print(f"B={b} H={hid} {mode}: written out {ref:.0f} us, gru_gates {new:.0f} us, {ref / new:.3f}x")


def trainer_and_data() -> Any:
    from seqcvae.config import load_config
    from seqcvae.data.splits import prepare_run_data
    from seqcvae.recipes.train import diagnostics_validator
    from seqcvae.training.trainer import Trainer

    cfg = load_config("smiles_default", ["data.limit=8000", "train.threads=1", "train.precision=bf16"])
    prepared = prepare_run_data(cfg)
    run_dir = Path("/tmp/seqcvae-bench-gru-cell")
    return Trainer(cfg, run_dir, prepared, validate=diagnostics_validator(cfg), progress=False), prepared


def bench_train(steps: int) -> None:
    trainer, prepared = trainer_and_data()
    batches = prepared.train.batches(128, 0, 0)
    if steps + 4 > len(batches):
        raise SystemExit(f"--steps at most {len(batches) - 4}")
    coll = [prepared.train.collate(batches[i]) for i in range(steps + 4)]
    for b in sorted(coll[:4], key=lambda b: -int(b.lengths.max()))[:2]:  # warm-up, both sides
        for side in SIDES:
            use(side)
            trainer.train_step(b, 0.5, 1e-3)
    cpu: dict[str, list[float]] = {"ref": [], "new": []}
    mols = 0
    for i, b in enumerate(coll[4:]):
        for side in order(i):
            use(side)
            t0 = time.process_time()
            trainer.train_step(b, 0.5, 1e-3)
            cpu[side].append(time.process_time() - t0)
        mols += b.size
    ratios = sorted(r / n for r, n in zip(cpu["ref"], cpu["new"]))
    q = len(ratios) // 4
    print(
        f"{steps} paired training steps of batch 128: molecules/s written out {mols / sum(cpu['ref']):.1f}, "
        f"gru_gates {mols / sum(cpu['new']):.1f}, speed-up {sum(cpu['ref']) / sum(cpu['new']):.3f} "
        f"(per batch: median {statistics.median(ratios):.3f}, quartiles {ratios[q]:.3f}-{ratios[-q - 1]:.3f})"
    )


def bench_sample(rounds: int, n: int = 1000) -> None:
    from seqcvae.config import SamplingSettings
    from seqcvae.generation.sampling import decode_tokens

    trainer, prepared = trainer_and_data()
    batches = prepared.train.batches(128, 0, 0)
    for i in range(30):  # a little training, so that samples are not all one length
        trainer.train_step(prepared.train.collate(batches[i]), 0.1, 2e-3)
    model = trainer.model
    nc = prepared.conditions.num_continuous
    with torch.no_grad():
        c = model.embed_conditions(torch.zeros(n, nc), torch.zeros(n, nc), torch.zeros(n, 0).long())
    z = torch.randn(n, model.shape.latent_dim, generator=torch.Generator().manual_seed(0))
    rate: dict[str, list[float]] = {"ref": [], "new": []}
    tokens = {}
    for i in range(rounds):
        for side in order(i):
            use(side)
            with torch.no_grad():
                t0 = time.process_time()
                tokens[side] = decode_tokens(model, z, c, SamplingSettings(), seed=0)
                rate[side].append(n / (time.process_time() - t0))
    ref, new = statistics.median(rate["ref"]), statistics.median(rate["new"])
    same = torch.equal(tokens["ref"], tokens["new"])
    print(
        f"{rounds} sampling batches of {n}: molecules/s written out {ref:.0f}, gru_gates {new:.0f}, "
        f"speed-up {new / ref:.3f}; the same tokens: {same}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("part", choices=["cell", "train", "sample"])
    ap.add_argument("--steps", type=int, default=54, help="train: paired steps")
    ap.add_argument("--rounds", type=int, default=10, help="sample: batches per side")
    ap.add_argument("--aa", action="store_true", help="both sides written out (A/A)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.aa:
        SIDES["new"] = SIDES["ref"]
    if args.part == "cell":
        bench_cell()
    elif args.part == "train":
        bench_train(args.steps)
    else:
        bench_sample(args.rounds)


if __name__ == "__main__":
    main()
