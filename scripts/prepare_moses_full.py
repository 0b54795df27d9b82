#!/usr/bin/env python
"""Extract the full MOSES splits (train 1,584,663; test 176,074; scaffold test 176,225 molecules)
from the PyPI wheel molsets==0.3.1 (MIT licence) and, optionally, build seqcvae's data cache.

Steps:
  1. get the wheel: `pip download molsets==0.3.1 --no-deps` (or --wheel PATH, or --from-dir DIR
     holding the wheel's train/test/test_scaffolds .csv.gz, e.g. ../shared/data/moses);
  2. check the wheel's sha256 and each file's sha256, and write the files byte for byte to --out
     (default data/moses_full/, not committed: 12.9 MB);
  3. with --cache: check, measure (RDKit: the config's properties) and tokenise the training and
     test files once into seqcvae's memory-mapped Arrow cache, so `seqcvae train` starts at once.
     The full train split takes ~20 minutes on 2 cores; later runs reuse it.

Usage:
  python scripts/prepare_moses_full.py --from-dir ../shared/data/moses --cache
  seqcvae train --config smiles_default data.train_path=data/moses_full/train.csv.gz \\
      data.val_path=data/moses_full/test.csv.gz
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from prepare_moses_filters import get_wheel  # noqa: E402

FILES = {
    "train": "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c",
    "test": "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2",
    "test_scaffolds": "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde",
}


def split_bytes(args: argparse.Namespace) -> dict[str, bytes]:
    if args.from_dir:
        missing = [str(Path(args.from_dir) / f"{s}.csv.gz") for s in FILES]
        missing = [p for p in missing if not Path(p).is_file()]
        if missing:
            raise SystemExit(
                f"{missing[0]} not found: --from-dir needs the wheel's {', '.join(FILES)} .csv.gz"
            )
        return {s: (Path(args.from_dir) / f"{s}.csv.gz").read_bytes() for s in FILES}
    import zipfile

    wheel = get_wheel(args.wheel)
    with zipfile.ZipFile(wheel) as zf:
        return {s: zf.read(f"moses/dataset/data/{s}.csv.gz") for s in FILES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--wheel", help="path to molsets-0.3.1-py3-none-any.whl")
    ap.add_argument("--from-dir", help="folder with the wheel's train/test/test_scaffolds .csv.gz")
    ap.add_argument("--out", default=str(ROOT / "data" / "moses_full"))
    ap.add_argument("--cache", action="store_true", help="also build seqcvae's data cache")
    ap.add_argument("--config", default="smiles_default", help="config whose data settings to cache")
    ap.add_argument("--workers", type=int, default=2, help="RDKit worker processes for --cache")
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, data in split_bytes(args).items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != FILES[split]:
            raise SystemExit(f"{split}.csv.gz: sha256 {digest} != expected {FILES[split]}")
        (out / f"{split}.csv.gz").write_bytes(data)
        print(f"{out / f'{split}.csv.gz'}: {len(data):,} bytes, sha256 ok")
    if not args.cache:
        print("next: --cache builds seqcvae's data cache now (~20 min), or the first training run does")
        return
    from seqcvae.config import load_config
    from seqcvae.data.store import open_store

    cfg = load_config(args.config).data
    for split in ("train", "test"):
        t0 = time.time()
        store = open_store(out / f"{split}.csv.gz", cfg, workers=args.workers, log=print)
        print(f"{split}: {store.skip_summary()} ({time.time() - t0:.0f} s); cache {store.directory}")


if __name__ == "__main__":
    main()
