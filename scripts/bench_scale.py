#!/usr/bin/env python
"""Time and peak memory of one training epoch on 10k, 100k and all 1.58M MOSES training molecules.

Each size runs `seqcvae train` in a child process for exactly one epoch (data.limit=N draws a
fixed random subset of the full train split; 0 = all), with the data cache already built (a
first, untimed pass builds it when missing and reports how long that took). While the child
runs, its /proc status is sampled every 0.2 s: peak RSS, peak anonymous RSS (heap: what the
process really holds) and peak file-backed RSS (pages of the memory-mapped Arrow cache, which
the kernel can drop at will). Needs data/moses_full/ (scripts/prepare_moses_full.py).

    python scripts/bench_scale.py --sizes 10000 100000 0
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A small model, so that a full pass over 1.58M molecules fits in minutes on 2 cores: the point
# is how data handling scales, not model quality.
MODEL = [
    "model.embedding_dim=16",
    "model.encoder_hidden=32",
    "model.decoder_hidden=64",
    "model.latent_dim=8",
    "model.condition_dim=16",
    "train.batch_size=512",
    "train.precision=fp32",
]


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for key in ("VmRSS", "RssAnon", "RssFile"):
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        if m:
            out[key] = int(m.group(1)) * 1024
    return out


def run(args: list[str], env: dict[str, str]) -> dict[str, float]:
    cmd = [sys.executable, "-m", "seqcvae", "train", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    marks: dict[str, float] = {}
    lines: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("model:"):
                marks["model"] = time.perf_counter() - t0
            m = re.search(r"; train (\d+), validation", line)
            if m:
                marks["train_rows"] = float(m.group(1))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    while proc.poll() is None:
        for k, v in _status(proc.pid).items():
            peaks[k] = max(peaks[k], v)
        time.sleep(0.2)
    th.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{''.join(lines[-30:])}")
    return {
        "wall_s": wall,
        "startup_s": marks.get("model", float("nan")),
        "peak_rss_mb": peaks["VmRSS"] / 2**20,
        "peak_anon_mb": peaks["RssAnon"] / 2**20,
        "peak_file_mb": peaks["RssFile"] / 2**20,
        "train_rows": marks.get("train_rows", float("nan")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 0])
    ap.add_argument("--data", default=str(ROOT / "data" / "moses_full" / "train.csv.gz"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} missing: run scripts/prepare_moses_full.py first")
    env = {**os.environ, "TQDM_DISABLE": "1"}
    results = []
    for n in args.sizes:
        common = [
            "--config",
            "smiles_default",
            "--no-progress",
            f"data.train_path={args.data}",
            f"data.limit={n}",
            *MODEL,
            f"train.threads={args.threads}",
            "train.max_minutes=0",
        ]
        with tempfile.TemporaryDirectory() as tmp:
            cold = run([*common[:3], "--out", f"{tmp}/cold", *common[3:], "train.max_steps=1"], env)
            warm = run([*common[:3], "--out", f"{tmp}/epoch", *common[3:], "train.epochs=1"], env)
            summary = json.loads(Path(f"{tmp}/epoch/train_summary.json").read_text())
        row = {
            "limit": n,
            "train_molecules": int(warm["train_rows"]),
            "first_run_startup_s": round(cold["startup_s"], 1),
            "cached_startup_s": round(warm["startup_s"], 1),
            "epoch_loop_s": round(summary["elapsed_s"], 1),
            "epoch_wall_s": round(warm["wall_s"], 1),
            "steps": summary["step"],
            "molecules_per_s": round(warm["train_rows"] / summary["elapsed_s"]),
            "peak_rss_mb": round(warm["peak_rss_mb"]),
            "peak_anon_mb": round(warm["peak_anon_mb"]),
            "peak_file_mb": round(warm["peak_file_mb"]),
        }
        results.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
