#!/usr/bin/env python
"""SMILES versus SELFIES tokens, side by side at the same training budget (issue 17).

Two runs of the same config (default `smiles_default`, on the shipped MOSES sample unless --train
gives another file), identical but for `data.representation`, each for --steps optimisation steps
with train.threads=--threads (a step budget, so both see the same molecules; the wall time is
reported beside it). Then for each run:

- MOSES protocol: --samples unconditional samples (z ~ N(0, I), no condition) at T = 1 with no
  top-k / top-p, scored with the MOSES metrics (seqcvae.chem.moses) against --test and
  --test-scaffolds (default: the 5,000-molecule subsets of the MOSES test splits in ../shared/data;
  the full splits are `--test .../test.csv.gz --test-scaffolds .../test_scaffolds.csv.gz`):
  validity, unique@1k/10k, novelty against the run's training molecules, FCD, SNN, Frag, Scaf.
- Property control: for each conditioned property among LogP, TPSA and QED, --control targets on
  an even grid over the training range [p1, p99], one sample each, every other condition free, at
  the run's own sampling settings: MAE and Spearman over the valid samples (RDKit), and validity.

    python scripts/bench_representation.py --steps 3000 --out runs/bench_representation

Prints a table and writes OUT/bench_representation.json. Finished runs are reused (delete OUT/NAME
to retrain). Skips cleanly when the MOSES test files are absent.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.chem.metrics import property_control  # noqa: E402
from seqcvae.chem.moses.metrics import molecule_metrics  # noqa: E402
from seqcvae.data.tables import read_sequences  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402

MOSES = ROOT.parent / "shared" / "data" / "moses"
CONTROLLED = ("LogP", "TPSA", "QED")
PLAIN = {"temperature": 1.0, "top_p": 1.0, "top_k": 0}


def train(args: argparse.Namespace, representation: str, out: Path) -> float:
    """One `seqcvae train` run; returns its training-loop seconds (reused when it exists)."""
    summary = out / "train_summary.json"
    if not summary.exists():
        cmd = [sys.executable, "-m", "seqcvae", "train", "--config", args.config]
        cmd += ["--out", str(out), "--no-progress", f"data.representation={representation}"]
        cmd += [f"train.max_steps={args.steps}", "train.max_minutes=0", "train.epochs=1000"]
        cmd += [f"train.threads={args.threads}", f"train.seed={args.seed}"]
        cmd += [f"data.train_path={args.train}"] if args.train else []
        cmd += list(args.overrides)
        print("+ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return float(json.loads(summary.read_text())["elapsed_s"])


def measure(run: Path, args: argparse.Namespace) -> dict[str, Any]:
    gen = Generator.load(run)
    t0 = time.perf_counter()
    prior = gen.sample_sequences([{}] * args.samples, seed=args.seed, settings=gen.default_settings(**PLAIN))
    sample_s = time.perf_counter() - t0
    references = {
        "Test": read_sequences(Path(args.test)),
        "TestSF": read_sequences(Path(args.test_scaffolds)),
    }
    train_smiles = sorted(gen.reference_set(workers=args.workers) or [])
    moses = molecule_metrics(
        prior,
        references,
        train=train_smiles or None,
        ks=(1000, 10000),
        workers=args.workers,
        fcd=not args.no_fcd,
    )
    out: dict[str, Any] = {"sample_seconds_T1": round(sample_s, 1), "moses_T1": moses}
    control: dict[str, Any] = {}
    for cond in gen.conditions.continuous:
        if cond.name not in CONTROLLED:
            continue
        lo = cond.quantiles.get("p01", cond.minimum)
        hi = cond.quantiles.get("p99", cond.maximum)
        targets = [{cond.name: float(v)} for v in np.linspace(lo, hi, args.control)]
        records = gen.generate(targets, seed=args.seed + 1, workers=args.workers)
        row = property_control([r.as_dict() for r in records], [cond.name]).get(cond.name, {})
        row["validity"] = float(np.mean([r.valid for r in records]))
        row["range"] = [round(float(lo), 3), round(float(hi), 3)]
        control[cond.name] = row
    out["control"] = control
    out["sampling"] = {
        k: v for k, v in vars(gen.default_settings()).items() if k in ("temperature", "top_p", "top_k")
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", default="smiles_default")
    ap.add_argument("--train", help="training file (default: the config's)")
    ap.add_argument("--steps", type=int, default=3000, help="optimisation steps of each run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--representations", default="smiles,selfies")
    ap.add_argument("--samples", type=int, default=10_000, help="unconditional samples at T = 1")
    ap.add_argument("--control", type=int, default=1000, help="targets per controlled property")
    ap.add_argument("--test", default=str(MOSES / "test_5k.csv.gz"))
    ap.add_argument("--test-scaffolds", default=str(MOSES / "test_scaffolds_5k.csv.gz"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-fcd", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_representation"))
    ap.add_argument("overrides", nargs="*", help="config overrides for both runs (KEY=VALUE)")
    args = ap.parse_intermixed_args()

    for flag, path in (("--test", args.test), ("--test-scaffolds", args.test_scaffolds)):
        if not Path(path).is_file():
            print(f"skipped: {flag} {path} not found (the MOSES test splits; see ../shared/data/moses)")
            return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Any] = {}
    for rep in [r.strip() for r in args.representations.split(",") if r.strip()]:
        run = out / rep
        seconds = train(args, rep, run)
        t0 = time.perf_counter()
        rows[rep] = {"train_seconds": round(seconds, 1), **measure(run, args)}
        rows[rep]["measure_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"{rep}: measured in {rows[rep]['measure_seconds']:.0f} s", flush=True)
    result = {
        "config": args.config,
        "train": args.train,
        "steps": args.steps,
        "threads": args.threads,
        "samples": args.samples,
        "control_targets": args.control,
        "test": args.test,
        "test_scaffolds": args.test_scaffolds,
        "overrides": list(args.overrides),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "rows": rows,
    }
    (out / "bench_representation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    keys = ["valid", "unique@10000", "Novelty", "FCD/Test", "SNN/Test", "Frag/Test", "Scaf/TestSF"]
    print(
        "| representation | train s | "
        + " | ".join(keys)
        + " | "
        + " | ".join(f"{p} MAE" for p in CONTROLLED)
        + " |"
    )
    for name, row in rows.items():
        cells = [
            f"{row['moses_T1'][k]:.3f}" if isinstance(row["moses_T1"].get(k), float) else "n/a" for k in keys
        ]
        ctrl = [f"{row['control'][p]['mae']:.3f}" if p in row["control"] else "n/a" for p in CONTROLLED]
        print(f"| {name} | {row['train_seconds']:.0f} | " + " | ".join(cells + ctrl) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
