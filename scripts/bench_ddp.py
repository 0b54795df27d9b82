#!/usr/bin/env python
"""Training speed of one process against N data-parallel processes (torchrun, gloo on CPU).

Both train the same config for the same number of steps on the same global batches; speed is the
mean of the logged training molecules/s after the first logging window. On a CPU machine the
processes share the cores (each gets cores / N threads), so this measures the cost of running
data-parallel, not extra hardware.

    python scripts/bench_ddp.py --processes 2 --steps 150
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def mean_speed(run: Path) -> float:
    with open(run / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train" and r["sequences_per_s"]]
    speeds = [float(r["sequences_per_s"]) for r in rows[2:]]  # skip step 1 and the first window
    return sum(speeds) / len(speeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--config", default="smiles_default")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    common = [
        "--config",
        args.config,
        "--no-progress",
    ]
    over = [
        f"train.max_steps={args.steps}",
        "train.log_every_steps=25",
        "train.max_minutes=0",
        *args.overrides,
    ]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    result = {"cores": cores, "steps": args.steps, "config": args.config, "overrides": over}
    with tempfile.TemporaryDirectory() as tmp:
        for name, n in (("one_process", 1), (f"{args.processes}_processes", args.processes)):
            out = Path(tmp) / name
            threads = max(1, cores // n)
            cmd = [sys.executable, "-m", "seqcvae", "train", *common, "--out", str(out)]
            if n > 1:
                launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
                cmd = [
                    *launcher,
                    f"--nproc_per_node={n}",
                    "-m",
                    "seqcvae",
                    "train",
                    *common,
                    "--out",
                    str(out),
                ]
            t0 = time.perf_counter()
            subprocess.run(
                [*cmd, *over, f"train.threads={threads}"], env=env, check=True, capture_output=True
            )
            result[name] = {
                "threads_per_process": threads,
                "molecules_per_s": round(mean_speed(out), 1),
                "wall_s": round(time.perf_counter() - t0, 1),
            }
    result["ratio"] = round(
        result[f"{args.processes}_processes"]["molecules_per_s"] / result["one_process"]["molecules_per_s"], 3
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
