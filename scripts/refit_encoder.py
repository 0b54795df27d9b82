#!/usr/bin/env python
"""Refit a trained model's inference network q(z | x, c) to its fixed decoder and prior: an
experiment on the amortisation gap (issue 16).

Only the encoder's weights learn (the shared token embedding, the decoder, the condition
embedder and the prior stay as they are, so the model p(x, z | c) does not change); the whole
model runs in evaluation mode (no dropout), and the loss is the negative ELBO (KL weight 1;
--free-bits floors each dimension's KL as training did), the bound the encoder should make
tight for this decoder, as He et al. (2019) train the inference network on its own. The IW-NLL
of the result bounds the same model's likelihood; a tighter q tightens the bound at a given k.

    python scripts/refit_encoder.py runs/ptb_lstm_locked/run runs/ptb_refit --steps 1500 [--which last]
    seqcvae evaluate --checkpoint runs/ptb_refit --data PTB/ptb.test.txt --k 50 --max-sequences 0
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.errors import SeqCVAEError  # noqa: E402
from seqcvae.evaluation.report import run_splits  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from seqcvae.models.cvae import CVAE  # noqa: E402
from seqcvae.models.losses import free_bits_kl, gaussian_kl  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run", help="a text run directory or checkpoint")
    ap.add_argument("out", type=Path, help="checkpoint directory to write (must not exist)")
    ap.add_argument("--which", default="best", choices=["best", "last"])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--free-bits",
        type=float,
        default=0.0,
        help="floor each dimension's batch-mean KL (as train.free_bits)",
    )
    args = ap.parse_args()
    if args.out.exists():
        raise SeqCVAEError(f"{args.out} exists: give a new directory")
    if args.steps < 1:
        raise SeqCVAEError(f"--steps {args.steps}: expected a number of steps >= 1")
    torch.manual_seed(args.seed)
    ckpt = load_checkpoint(args.run, which=args.which)  # also what the model does not hold, for the result
    gen = Generator.from_checkpoint(ckpt)
    model: CVAE = gen.model
    cfg = gen.config
    if cfg.data.kind != "text":
        raise SeqCVAEError(
            f"{args.run} is a {cfg.data.kind} run; this experiment reads a text run's training file"
        )
    # the run's own training split, under the checkpoint's tokenizer and conditions (no new ones)
    train = run_splits(gen).train
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(model.encoder.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=args.lr)
    start, step, epoch = time.perf_counter(), 0, 0
    window: list[float] = []
    while step < args.steps:
        for idx in train.batches(args.batch_size, args.seed, epoch):
            b = train.collate(idx)
            c = model.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
            mu, logvar = model.encode(b.tokens, b.lengths, c)
            z = CVAE.reparameterise(mu, logvar, torch.randn_like(mu))
            rec = model.decode_nll(b.tokens[:, :-1], z, c, b.tokens[:, 1:]).sum(dim=1)
            pm, plv = model.prior_params(c)
            nelbo = (rec + free_bits_kl(gaussian_kl(mu, logvar, pm, plv), args.free_bits)).mean()
            opt.zero_grad(set_to_none=True)
            nelbo.backward()
            opt.step()
            step += 1
            window.append(float(nelbo.detach()))
            if step % 100 == 0:
                print(
                    f"step {step}: training -ELBO {sum(window) / len(window):.3f} "
                    f"({time.perf_counter() - start:.0f} s)"
                )
                window = []
            if step >= args.steps:
                break
        epoch += 1
    meta = {**ckpt.meta, "weights": f"encoder refitted for {args.steps} steps (scripts/refit_encoder.py)"}
    save_checkpoint(
        args.out, dataclasses.replace(ckpt, weights=model.state_dict(), meta=meta, train_state=None)
    )
    print(f"wrote {args.out} after {args.steps} steps ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    try:
        main()
    except SeqCVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
