#!/usr/bin/env python
"""Write seqcvae/chem/data/moses_filters.json from the PyPI wheel molsets==0.3.1 (MOSES, MIT).

MOSES's "Filters" metric rejects molecules matching its medicinal-chemistry filters (MCF, file
moses/metrics/mcf.csv, 22 patterns) or the PAINS filters (moses/metrics/wehi_pains.csv, 480
patterns). This copies those SMARTS (whitespace around each field stripped) with their names,
from the wheel whose sha256 is checked, so seqcvae computes the same metric without molsets.

Usage:
  python scripts/prepare_moses_filters.py                 # downloads the wheel with pip
  python scripts/prepare_moses_filters.py --wheel PATH    # molsets-0.3.1-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEEL_SHA256 = "7f4450e3ebecebe79c3a2a55950c93daddee071120daf64a163d03481e811d34"


def get_wheel(path: str | None) -> Path:
    if path:
        wheel = Path(path)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="molsets-"))
        cmd = [sys.executable, "-m", "pip", "download", "molsets==0.3.1", "--no-deps", "-d", str(tmp)]
        subprocess.run(cmd, check=True)
        wheel = next(tmp.glob("molsets-0.3.1-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} != expected {WHEEL_SHA256}")
    return wheel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--wheel", help="path to molsets-0.3.1-py3-none-any.whl")
    ap.add_argument("--out", default=str(ROOT / "seqcvae" / "chem" / "data" / "moses_filters.json"))
    args = ap.parse_args()
    with zipfile.ZipFile(get_wheel(args.wheel)) as zf:
        mcf = list(csv.DictReader(io.StringIO(zf.read("moses/metrics/mcf.csv").decode())))
        pains = list(csv.reader(io.StringIO(zf.read("moses/metrics/wehi_pains.csv").decode())))
    filters = [[r["names"].strip(), r["smarts"].strip()] for r in mcf]
    filters += [[name.strip(), smarts.strip()] for smarts, name in pains]
    doc = {
        "source": "molsets 0.3.1 wheel (MOSES, MIT licence): moses/metrics/mcf.csv, "
        "moses/metrics/wehi_pains.csv",
        "wheel_sha256": WHEEL_SHA256,
        "recipe": "scripts/prepare_moses_filters.py",
        "mcf": len(mcf),
        "pains": len(pains),
        "filters": filters,
    }
    head = json.dumps({k: v for k, v in doc.items() if k != "filters"}, indent=1)[:-2]
    rows = ",\n".join("  " + json.dumps(f) for f in filters)  # one pattern per line
    Path(args.out).write_text(f'{head},\n "filters": [\n{rows}\n ]\n}}\n', encoding="utf-8")
    print(f"{args.out}: {len(mcf)} MCF + {len(pains)} PAINS patterns")


if __name__ == "__main__":
    main()
