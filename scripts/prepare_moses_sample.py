#!/usr/bin/env python
"""Rebuild data/moses_sample/ from the PyPI wheel molsets==0.3.1 (MOSES, MIT licence).

Steps (all deterministic; rerunning gives identical bytes):
  1. get the wheel: `pip download molsets==0.3.1 --no-deps` (or --wheel PATH, or --from-dir DIR
     holding the wheel's train.csv.gz / test.csv.gz, e.g. ../shared/data/moses);
  2. check the wheel's sha256;
  3. draw the fixed subsets: numpy.random.default_rng(SEED).choice(N, K, replace=False), indices
     sorted ascending -> train 50,000 of 1,584,663 (seed 0), test 5,000 of 176,074 (seed 1);
     these are the same molecules as ../shared/data/moses/train_50k / test_5k;
  4. add RDKit properties with seqcvae.chem (MolWt, LogP, QED, TPSA, NumHDonors, NumHAcceptors,
     SAS), six significant digits, and write gzip CSV with mtime 0.

Usage:
  python scripts/prepare_moses_sample.py                   # downloads the wheel with pip
  python scripts/prepare_moses_sample.py --from-dir ../shared/data/moses
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "scripts"))

from prepare_moses_filters import get_wheel  # noqa: E402

from seqcvae.chem.properties import PROPERTY_NAMES, analyse_many  # noqa: E402

SPLITS = {"train": (0, 50_000), "test": (1, 5_000)}


def read_smiles_gz(data: bytes) -> list[str]:
    text = gzip.decompress(data).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if rows[0] != ["SMILES"]:
        raise SystemExit(f"unexpected header {rows[0]!r}, expected ['SMILES']")
    return [r[0] for r in rows[1:]]


def load_split_bytes(args: argparse.Namespace) -> dict[str, bytes]:
    if args.from_dir:
        return {s: (Path(args.from_dir) / f"{s}.csv.gz").read_bytes() for s in SPLITS}
    wheel = get_wheel(args.wheel)
    with zipfile.ZipFile(wheel) as zf:
        return {s: zf.read(f"moses/dataset/data/{s}.csv.gz") for s in SPLITS}


def fmt(x: float) -> str:
    return f"{x:.6g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--wheel", help="path to molsets-0.3.1-py3-none-any.whl")
    ap.add_argument("--from-dir", help="folder with the wheel's train.csv.gz and test.csv.gz")
    ap.add_argument("--out", default=str(ROOT / "data" / "moses_sample"))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = load_split_bytes(args)
    for split, (seed, k) in SPLITS.items():
        t0 = time.time()
        smiles = read_smiles_gz(raw[split])
        idx = np.sort(np.random.default_rng(seed).choice(len(smiles), size=k, replace=False))
        chosen = [smiles[i] for i in idx]
        analysed = analyse_many(chosen, PROPERTY_NAMES, workers=args.workers)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["SMILES", *PROPERTY_NAMES])
        for s, (canon, props) in zip(chosen, analysed):
            if canon is None:
                raise SystemExit(f"RDKit cannot parse MOSES SMILES {s!r}")
            w.writerow([s, *(fmt(props[n]) for n in PROPERTY_NAMES)])
        path = out / f"{split}.csv.gz"
        with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
            gz.write(buf.getvalue().encode("utf-8"))
        print(f"{path}: {k} of {len(smiles)} molecules (seed {seed}), {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
