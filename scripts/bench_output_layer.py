#!/usr/bin/env python
"""Training speed of the full softmax against the adaptive softmax (`model.output_cutoffs`) on
PTB's vocabulary: `seqcvae train` for a few steps per setting, interleaved over rounds so that a
noisy machine affects every setting alike; prints tokens per second (median of the logged steps
after the first) and each setting's ratio to the full softmax at the same widths.

    python scripts/bench_output_layer.py                       # text_vader widths and 640 / 256
    python scripts/bench_output_layer.py --steps 80 --rounds 3 --threads 2

Reads ../shared/data/text/ptb; exits cleanly (status 0, a message) when it is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "text" / "ptb"

# (label, decoder_hidden, embedding_dim, output_cutoffs)
SETTINGS = [
    ("full softmax, decoder 384, embedding 128", 384, 128, "[]"),
    ("adaptive [2000], decoder 384, embedding 128", 384, 128, "[2000]"),
    ("full softmax, decoder 640, embedding 256", 640, 256, "[]"),
    ("adaptive [2000], decoder 640, embedding 256", 640, 256, "[2000]"),
]


def tokens_per_s(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train" and r["tokens_per_s"]]
    return [float(r["tokens_per_s"]) for r in rows[1:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not PTB.exists():
        print(f"skipped: {PTB} is absent")
        return
    speeds: dict[str, list[float]] = {label: [] for label, *_ in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for label, hidden, emb, cutoffs in SETTINGS:
                run = Path(tmp) / "run"
                cmd = [
                    sys.executable, "-m", "seqcvae", "train", "--config", "text_vader", "--out", str(run),
                    "--overwrite", "--no-progress",
                    f"data.train_path={PTB / 'ptb.train.txt'}", f"data.val_path={PTB / 'ptb.valid.txt'}",
                    "data.tags=[]", "data.vocab_size=10000", "data.max_length=80",
                    f"data.cache_dir={tmp}/cache",
                    "model.condition_dim=8", f"model.decoder_hidden={hidden}", f"model.embedding_dim={emb}",
                    f"model.output_cutoffs={cutoffs}", "model.dropout=0.4", "train.word_dropout=0",
                    f"train.threads={args.threads}", f"train.max_steps={args.steps}", "train.max_minutes=0",
                    "train.log_every_steps=10", "train.val_every_steps=0", "train.val_max_sequences=200",
                ]  # fmt: skip
                subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
                speeds[label].extend(tokens_per_s(run))
    result = {label: round(statistics.median(v)) for label, v in speeds.items()}
    full = {hidden: result[label] for label, hidden, _, cutoffs in SETTINGS if cutoffs == "[]"}
    for label, hidden, _, _ in SETTINGS:
        print(f"{label:48s} {result[label]:7d} tokens/s  x{result[label] / full[hidden]:.2f}")
    print(
        json.dumps(
            {"steps": args.steps, "rounds": args.rounds, "threads": args.threads, "tokens_per_s": result}
        )
    )


if __name__ == "__main__":
    main()
