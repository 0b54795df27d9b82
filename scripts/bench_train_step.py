#!/usr/bin/env python
"""Time training steps of a preset model on the same batches, one thread: the A/B measure for
changes to the step's code (models/recurrence.py, the fused optimiser).

    python scripts/bench_train_step.py --preset ptb_lstm640 [--steps 30] [--code DIR]

--code DIR imports seqcvae from another checkout (e.g. `git worktree add /tmp/before COMMIT`), so
the same command times the code before and after a change; alternate the two a few times on a
busy machine and compare medians. Prints one JSON line: preset, code, median and mean seconds a
step, sequences a second, and the steps' mean padded length.

Presets (training as bench_text.py / the shipped configs train them):
  smiles_default  the shipped SMILES model on its shipped MOSES sample (data/moses_sample)
  moses_width     the MOSES VAE's widths (bench_speed.py), batch 512
  ptb_lstm640     PTB, LSTM 640 with locked dropout, adaptive softmax, batch 64 (issue 16's runs)
  ptb_lstm1024    the same at 1024 wide, dropout 0.5
  ptb_gru640      PTB, GRU 640
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PTB = SHARED / "text" / "ptb"

_PTB = [
    f"data.train_path={json.dumps(str(PTB / 'ptb.train.txt'))}",
    f"data.val_path={json.dumps(str(PTB / 'ptb.valid.txt'))}",
    "data.tags=[]",
    "data.sp_model_type=word",
    "data.vocab_size=10300",
    "data.max_length=80",
    "model.condition_dim=8",
    "model.embedding_dim=256",
    "model.output_cutoffs=[2000]",
    "train.word_dropout=0",
    "train.free_bits=0.2",
    "train.batch_size=64",
]
_LSTM = ["model.decoder=lstm", "model.locked_dropout=true"]
# the MOSES VAE's widths (bench_speed.py's preset of the same name, which imports this list)
MOSES_WIDTH = [
    "model.embedding_dim=32",
    "model.encoder_hidden=256",
    "model.decoder_hidden=512",
    "model.decoder_layers=3",
    "model.latent_dim=128",
    "train.batch_size=512",
    "train.lr=0.001",
]
PRESETS: dict[str, tuple[str, list[str]]] = {
    "smiles_default": ("smiles_default", []),
    "moses_width": ("smiles_default", MOSES_WIDTH),
    "ptb_lstm640": ("text_vader", [*_PTB, *_LSTM, "model.decoder_hidden=640", "model.dropout=0.4"]),
    "ptb_lstm1024": ("text_vader", [*_PTB, *_LSTM, "model.decoder_hidden=1024", "model.dropout=0.5"]),
    "ptb_gru640": ("text_vader", [*_PTB, "model.decoder_hidden=640", "model.dropout=0.4"]),
}


def fail(message: str) -> NoReturn:
    """Bad input: one line and exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose seqcvae to import")
    ap.add_argument("--profile", type=int, default=0, help="N > 0: print torch.profiler's top N operators")
    ap.add_argument("overrides", nargs="*", help="more KEY=VALUE overrides")
    args = ap.parse_args()
    if not (args.code / "seqcvae").is_dir():
        fail(f"--code {args.code}: no seqcvae package there; expected a checkout of this project")
    config, overrides = PRESETS[args.preset]
    if config == "text_vader" and not (PTB / "ptb.train.txt").exists():
        print(f"{PTB} is absent: nothing to time")
        return
    sys.path.insert(0, str(args.code.resolve()))
    import torch

    from seqcvae.config import load_config
    from seqcvae.data.splits import prepare_run_data
    from seqcvae.recipes.train import diagnostics_validator
    from seqcvae.training.trainer import Trainer

    torch.set_num_threads(1)
    cfg = load_config(config, [*overrides, "train.threads=1", *args.overrides])
    prepared = prepare_run_data(cfg)
    out = Path("/tmp/seqcvae-bench-train-step")
    trainer = Trainer(cfg, out, prepared, validate=diagnostics_validator(cfg), progress=False)
    batches = prepared.train.batches(cfg.train.batch_size, 0, 0)
    if len(batches) < args.warmup + args.steps:
        fail(f"--steps {args.steps}: only {len(batches) - args.warmup} batches after warm-up")
    for idx in batches[: args.warmup]:
        trainer.train_step(prepared.train.collate(idx), 0.5, 1e-3)
    times, widths, rows = [], [], 0
    for idx in batches[args.warmup : args.warmup + args.steps]:
        batch = prepared.train.collate(idx)
        start = time.perf_counter()
        trainer.train_step(batch, 0.5, 1e-3)
        times.append(time.perf_counter() - start)
        widths.append(batch.tokens.shape[1])
        rows += len(idx)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for idx in batches[args.warmup : args.warmup + 3]:
                trainer.train_step(prepared.train.collate(idx), 0.5, 1e-3)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile))
    print(
        json.dumps(
            {
                "preset": args.preset,
                "code": str(args.code),
                "steps": args.steps,
                "median_s": round(statistics.median(times), 4),
                "mean_s": round(statistics.fmean(times), 4),
                "sequences_per_s": round(rows / sum(times), 1),
                "mean_width": round(statistics.fmean(widths), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
