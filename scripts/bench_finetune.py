#!/usr/bin/env python
"""Fine-tuning a trained model on a small focused set versus training from scratch on it (issue 17;
REINVENT 4's transfer-learning mode).

The focused set: molecules of the MOSES scaffold-test split, whose Bemis-Murcko scaffolds are absent
from MOSES train (so from every model trained on it), with one scaffold (default quinoline,
c1ccc2ncccc2c1: 3,778 molecules, the split's most common). --train-size of them (default 2,000)
are the training set, up to --held-out of the rest (default 1,000) the held-out family.

Three models, each sampled unconditionally (--samples, default 2,000, the run's sampling settings,
same seed):
  base       the model fine-tuned from (--base, default pretrained:moses), as it ships;
  finetuned  `seqcvae train --init-from BASE data.train_path=FAMILY train.max_minutes=M`;
  scratch    `seqcvae train --config smiles_default` (same architecture and conditions) on the
             same file for the same budget.
Per model: validity, uniqueness, novelty against the 2,000 training molecules, the fraction of
valid samples in the family (their scaffold is the family's), and FCD / SNN / Frag / Scaf against
the held-out family molecules (MOSES definitions; FCD needs fcd_torch).

    python scripts/bench_finetune.py --base pretrained:moses --minutes 5 --out runs/bench_finetune

Prints a table and writes OUT/bench_finetune.json. Training runs with train.threads=--threads.
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

from seqcvae.chem.metrics import set_metrics  # noqa: E402
from seqcvae.chem.mol import canonicalize  # noqa: E402
from seqcvae.chem.moses.metrics import molecule_metrics  # noqa: E402
from seqcvae.data.tables import read_sequences  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402

DEFAULT_TEST = ROOT.parent / "shared" / "data" / "moses" / "test_scaffolds.csv.gz"
QUINOLINE = "c1ccc2ncccc2c1"


def scaffold(smiles: str) -> str | None:
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else MurckoScaffold.MurckoScaffoldSmiles(mol=mol)


def family(test: Path, core: str, train_size: int, held_out: int, seed: int) -> tuple[list[str], list[str]]:
    """The family's molecules, shuffled (seed), split into training and held-out."""
    members = [s for s in read_sequences(test, "SMILES") if scaffold(s) == core]
    if len(members) < train_size + 100:
        raise SystemExit(f"{test}: only {len(members)} molecules with scaffold {core}")
    order = np.random.default_rng(seed).permutation(len(members))
    members = [members[i] for i in order]
    return members[:train_size], members[train_size : train_size + held_out]


def write_smiles_csv(path: Path, smiles: list[str]) -> None:
    path.write_text("SMILES\n" + "\n".join(smiles) + "\n", encoding="utf-8")


def train(args: argparse.Namespace, out: Path, data: Path, *head: str) -> float:
    """One `seqcvae train` run; returns its wall time in seconds (skipped when it exists)."""
    if (out / "checkpoints" / "best" / "meta.json").exists():
        return float(json.loads((out / "checkpoints" / "best" / "meta.json").read_text())["elapsed_s"])
    cmd = [sys.executable, "-m", "seqcvae", "train", *head, "--out", str(out), "--no-progress"]
    cmd += [f"data.train_path={data}", f"train.max_minutes={args.minutes}", f"train.threads={args.threads}"]
    cmd += ["train.epochs=1000"]
    print("+ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def measure(
    checkpoint: str, args: argparse.Namespace, core: str, train_set: list[str], held: list[str]
) -> dict[str, Any]:
    gen = Generator.load(checkpoint)
    t0 = time.perf_counter()
    records = gen.generate({}, n=args.samples, seed=args.seed)
    seconds = time.perf_counter() - t0
    canonical = [r.canonical if r.valid else None for r in records]
    train_canonical = {c for c in (canonicalize(s) for s in train_set) if c}
    out: dict[str, Any] = {"checkpoint": checkpoint, "sample_seconds": round(seconds, 1)}
    out.update(set_metrics(canonical, train_canonical))
    valid = [c for c in canonical if c]
    out["in_family"] = float(np.mean([scaffold(c) == core for c in valid])) if valid else 0.0
    metrics = molecule_metrics(
        [r.sequence for r in records], {"Family": held}, train=None, ks=(), fcd=not args.no_fcd
    )
    out.update({k: v for k, v in metrics.items() if k.endswith("/Family")})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", default="pretrained:moses", help="the model to fine-tune")
    ap.add_argument("--test", default=str(DEFAULT_TEST), help="MOSES scaffold-test split (the source)")
    ap.add_argument("--scaffold", default=QUINOLINE, help="the family's Bemis-Murcko scaffold")
    ap.add_argument("--train-size", type=int, default=2000)
    ap.add_argument("--held-out", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget of each run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-fcd", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_finetune"))
    args = ap.parse_args()

    test = Path(args.test)
    if not test.is_file():
        print(f"skipped: {test} not found (the MOSES test split; see ../shared/data/moses)")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train_set, held = family(test, args.scaffold, args.train_size, args.held_out, args.seed)
    data = out / "family_train.csv"
    write_smiles_csv(data, train_set)
    write_smiles_csv(out / "family_held_out.csv", held)
    print(
        f"family {args.scaffold}: {len(train_set)} training, {len(held)} held out "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    base = Generator.load(args.base)
    properties = json.dumps([c.name for c in base.conditions.continuous])
    seconds = {
        "finetuned": train(args, out / "finetuned", data, "--init-from", args.base),
        "scratch": train(
            args, out / "scratch", data, "--config", "smiles_default", f"data.properties={properties}"
        ),
    }
    rows = {
        "base": measure(args.base, args, args.scaffold, train_set, held),
        "finetuned": measure(str(out / "finetuned"), args, args.scaffold, train_set, held),
        "scratch": measure(str(out / "scratch"), args, args.scaffold, train_set, held),
    }
    for name, s in seconds.items():
        rows[name]["train_seconds"] = round(s, 1)
    result = {
        "base": args.base,
        "scaffold": args.scaffold,
        "train_size": len(train_set),
        "held_out": len(held),
        "minutes": args.minutes,
        "threads": args.threads,
        "samples": args.samples,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "rows": rows,
    }
    (out / "bench_finetune.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    keys = [
        "validity",
        "uniqueness",
        "novelty",
        "in_family",
        "FCD/Family",
        "SNN/Family",
        "Frag/Family",
        "Scaf/Family",
    ]
    print("| | " + " | ".join(keys) + " |")
    for name, row in rows.items():
        cells = [f"{row[k]:.3f}" if isinstance(row.get(k), float) else "n/a" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
