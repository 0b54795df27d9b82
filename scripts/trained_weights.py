#!/usr/bin/env python
"""A checkpoint of a run's trained weights, for comparing them with its weight average.

With train.ema_decay the checkpoints' model.safetensors hold the moving average of the weights,
and checkpoints/last keeps the optimiser's own (trained) weights in its training state. This
writes those as a checkpoint directory that `seqcvae evaluate --checkpoint` (and every other
command) loads, so that both can be measured the same way:

    python scripts/trained_weights.py runs/ptb_lstm_locked/run runs/ptb_lstm_locked/trained
    seqcvae evaluate --checkpoint runs/ptb_lstm_locked/trained --data ptb.test.txt --max-sequences 0
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.errors import SeqCVAEError  # noqa: E402
from seqcvae.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run", type=Path, help="run directory (its checkpoints/last is read)")
    ap.add_argument("out", type=Path, help="checkpoint directory to write (must not exist)")
    args = ap.parse_args()
    if args.out.exists():
        raise SeqCVAEError(f"{args.out} exists: give a new directory")
    ckpt = load_checkpoint(args.run, which="last", with_train_state=True)
    raw = (ckpt.train_state or {}).get("raw_weights")
    if raw is None:
        raise SeqCVAEError(
            f"{args.run} was not trained with train.ema_decay: its weights are the trained ones"
        )
    meta = {**ckpt.meta, "weights": "trained (not averaged)"}
    save_checkpoint(args.out, dataclasses.replace(ckpt, weights=raw, meta=meta, train_state=None))
    print(f"wrote the trained weights of {args.run} at step {ckpt.meta['step']} to {args.out}")


if __name__ == "__main__":
    try:
        main()
    except SeqCVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
