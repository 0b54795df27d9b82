#!/usr/bin/env python
"""Issue-5 parity and speed check: seqcvae's MOSES metrics vs molsets 0.3.1 on the same inputs.

Inputs (from ../shared/data/moses; skipped cleanly when absent):
  (a) train10k:  10,000 molecules drawn (seed 0) from the full MOSES train split; references = the
                 5k test subset (Test) and the 5k scaffold-test subset (TestSF), as in
                 ../shared/bench; training set = the 50k train subset;
  (b) messy:     2,000 molecules of the full test split + 500 exact duplicates + 300 truncated SMILES (mostly
                 invalid) + empty strings + molecules that fail MOSES's filters (charges, 8-rings,
                 iodine, PAINS), same reference and training set;
  (c) --generated FILE (optional): any SMILES file, e.g. samples from a trained model.

molsets runs in its own virtual environment (MOSES_PYTHON, default /tmp/venv-moses/bin/python, as
built by ../shared/bench/peer_moses_vae.sh) with the run-time shims of
../shared/bench/moses_compat.py. Both sides get `--workers` processes. Every metric must agree
within 0.005; the script prints one JSON object and exits 1 when one does not.

    python scripts/moses_parity.py                    # (a) and (b)
    python scripts/moses_parity.py --generated runs/x/samples.txt --skip-messy
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.chem.moses import molecule_metrics  # noqa: E402

TOLERANCE = 0.005
MOSES_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
import moses_compat  # noqa: F401  (run-time shims for current RDKit/pandas/numpy)
from rdkit import RDLogger
from moses.metrics import get_all_metrics
job = json.load(open(sys.argv[1]))
t = time.perf_counter()
m = get_all_metrics(job["gen"], k=[1000, 10000], n_jobs=job["workers"], device="cpu",
                    test=job["test"], test_scaffolds=job["test_sf"], train=job["train"])
seconds = time.perf_counter() - t
RDLogger.DisableLog("rdApp.*")
print(json.dumps({"seconds": seconds, "metrics": {k: float(v) for k, v in m.items()}}))
"""

FILTER_FAILURES = [
    "C[N+](C)(C)Cc1ccccc1",  # charged atom
    "CC(=O)[O-]",  # charged atom
    "C1CCCCCCC1",  # 8-membered ring
    "ICc1ccccc1",  # iodine
    "CP(C)(=O)c1ccccc1",  # phosphorus
    "O=C1NC(=S)SC1=Cc1ccccc1",  # rhodanine (PAINS ene_rhod)
    "Oc1ccccc1O",  # catechol (PAINS catechol)
    "ClCc1ccccc1",  # benzyl chloride (MCF4)
    "C1OC1c1ccccc1",  # epoxide (MCF5)
    "O=Cc1ccccc1",  # aldehyde (MCF7)
]


def read_smiles(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        first = fh.readline().strip()
        rest = [line.strip() for line in fh]
    if "," in first or first.upper() == "SMILES":
        col = first.split(",").index("SMILES") if "SMILES" in first.split(",") else 0
        return [r[col] for r in csv.reader(rest) if r]
    return [first, *rest]


def messy_set(scaffold_test: list[str], rng: np.random.Generator) -> list[str]:
    base = [scaffold_test[i] for i in rng.choice(len(scaffold_test), 2000, replace=False)]
    dups = [base[i] for i in rng.integers(0, len(base), 500)]
    cut = []
    for i in rng.integers(0, len(base), 300):
        s = base[i]
        cut.append(s[: int(rng.integers(1, len(s)))])
    items = base + dups + cut + [""] * 20 + FILTER_FAILURES * 5
    rng.shuffle(items)
    return items


def run_moses(moses_python: str, shared_bench: Path, job: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps(job))
        env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(
            [moses_python, "-c", MOSES_CHILD, str(path), str(shared_bench)],
            capture_output=True,
            text=True,
            env=env,
        )
    if proc.returncode:
        raise SystemExit(f"molsets failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(
    name: str, gen: list[str], refs: dict[str, list[str]], train: list[str], args: argparse.Namespace
) -> dict:
    t = time.perf_counter()
    ours = molecule_metrics(gen, refs, train=set(train), workers=args.workers)
    our_s = time.perf_counter() - t
    job = {
        "gen": gen,
        "test": refs["Test"],
        "test_sf": refs["TestSF"],
        "train": train,
        "workers": args.workers,
    }
    moses = run_moses(args.moses_python, args.shared / "bench", job)
    rows = {}
    worst = 0.0
    for key, ref in moses["metrics"].items():
        mine = ours.get(key, math.nan)
        diff = abs(mine - ref) if not (math.isnan(mine) and math.isnan(ref)) else 0.0
        worst = max(worst, diff if not math.isnan(diff) else math.inf)
        rows[key] = {"seqcvae": round(mine, 6), "moses": round(ref, 6), "abs_diff": float(f"{diff:.2e}")}
    return {
        "input": name,
        "n": len(gen),
        "metrics": rows,
        "max_abs_diff": worst,
        "within_tolerance": worst <= TOLERANCE,
        "seqcvae_seconds": round(our_s, 1),
        "moses_seconds": round(moses["seconds"], 1),
        "speedup": round(moses["seconds"] / our_s, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--moses-python", default=os.environ.get("MOSES_PYTHON", "/tmp/venv-moses/bin/python"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--generated", type=Path, help="extra input: a SMILES file")
    ap.add_argument("--skip-train10k", action="store_true")
    ap.add_argument("--skip-messy", action="store_true")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()

    data = args.shared / "data" / "moses"
    if not (data / "train.csv.gz").exists():
        print(json.dumps({"skipped": f"no MOSES data at {data}"}))
        return
    if not Path(args.moses_python).exists():
        print(
            json.dumps(
                {
                    "skipped": f"no molsets environment at {args.moses_python}; "
                    "run ../shared/bench/peer_moses_vae.sh --help once to build it"
                }
            )
        )
        return
    refs = {
        "Test": read_smiles(data / "test_5k.csv.gz"),
        "TestSF": read_smiles(data / "test_scaffolds_5k.csv.gz"),
    }
    train50k = read_smiles(data / "train_50k.csv.gz")
    rng = np.random.default_rng(0)
    results = []
    if not args.skip_train10k:
        full = read_smiles(data / "train.csv.gz")
        gen = [full[i] for i in rng.choice(len(full), 10_000, replace=False)]
        results.append(compare("train10k", gen, refs, train50k, args))
    if not args.skip_messy:
        gen = messy_set(read_smiles(data / "test.csv.gz"), rng)
        results.append(compare("messy", gen, refs, train50k, args))
    if args.generated:
        results.append(compare(str(args.generated), read_smiles(args.generated), refs, train50k, args))
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "workers": args.workers,
        "tolerance": TOLERANCE,
        "results": results,
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if not all(r["within_tolerance"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
