#!/usr/bin/env python
"""Issue-14 seed-editing benchmark (the protocol of JT-VAE's constrained optimisation, on MOSES).

800 molecules of the MOSES test split (never trained on), three tasks:
  logp+1   shift LogP by +1.0, success within 0.25
  logp-1   shift LogP by -1.0, success within 0.25
  qed+0.1  raise QED by at least 0.1
each at Tanimoto (Morgan r2, 2048 bits) >= 0.4 and >= 0.6 to the seed, with a fixed budget of
decoded proposals per seed, for three methods:
  decode   the seed's posterior mean decoded under the new condition (1 proposal)
  random   random latent neighbours of the seed decoded under its own condition, best by RDKit
  search   seqcvae optimize: population search around the best molecules so far, decoded under
           the new condition (the budget's first proposal is the "decode" one)
Other conditions are held at the seed's own values. Reports, per task, floor and method: success
rate, mean similarity of the best success, mean property error of the best candidate, seconds per
seed.

    python scripts/bench_seed_editing.py RUN [--seeds 800] [--budget 100] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.data.tables import read_sequences  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.latent.goals import Goal  # noqa: E402
from seqcvae.latent.optimize import EditTask, at_floor, edit_summary, optimize  # noqa: E402
from seqcvae.latent.seeds import Seed, usable_seeds  # noqa: E402

DEFAULT_TEST = ROOT.parent / "shared" / "data" / "moses" / "test.csv.gz"


def goals(task: str, seed: Seed) -> list[Goal]:
    if task == "logp+1":
        return [Goal.near("LogP", seed.properties["LogP"] + 1.0, 0.25)]
    if task == "logp-1":
        return [Goal.near("LogP", seed.properties["LogP"] - 1.0, 0.25)]
    if task == "qed+0.1":
        q = seed.properties["QED"]
        return [Goal("QED", min(q + 0.15, 0.95), q + 0.1, float("inf"))]
    raise ValueError(task)


METHODS = {
    "decode": dict(budget=1, search=False, condition="target"),
    "random": dict(search=False, condition="seed"),
    "search": dict(search=True, condition="target"),
    "search_push": dict(search=True, condition="target", pushes=(1.0, 1.5, 2.0, 3.0)),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--test", default=str(DEFAULT_TEST))
    ap.add_argument("--seeds", type=int, default=800)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--population", type=int, default=25)
    ap.add_argument("--tasks", default="logp+1,logp-1,qed+0.1")
    ap.add_argument("--floors", default="0.4,0.6")
    ap.add_argument("--methods", default="decode,random,search")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    gen = Generator.load(args.run)
    smiles = read_sequences(args.test)
    order = np.random.default_rng(0).permutation(len(smiles))
    seeds, _ = usable_seeds(gen, [smiles[i] for i in order], args.seeds)
    rows = []
    floors = [float(f) for f in args.floors.split(",")]
    for task in args.tasks.split(","):
        tasks = [EditTask(s, goals(task, s)) for s in seeds]
        for method in args.methods.split(","):
            kw = {"budget": args.budget, **METHODS[method]}
            # Only the search uses the floor to choose where to look: the other methods run once
            # and are scored at every floor.
            runs = floors if method == "search" else [0.0]
            for run_floor in runs:
                t0 = time.perf_counter()
                results = optimize(
                    gen,
                    tasks,
                    min_similarity=run_floor,
                    population=args.population,
                    workers=args.workers,
                    **kw,
                )
                seconds = time.perf_counter() - t0
                for floor in floors if run_floor == 0.0 else [run_floor]:
                    row = {"task": task, "floor": floor, "method": method, "budget": kw["budget"]}
                    row.update(edit_summary(at_floor(results, floor)))
                    row["seconds_per_seed"] = seconds / len(seeds)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    rows.sort(key=lambda r: (r["task"], r["floor"], list(METHODS).index(r["method"])))
    out = {
        "run": args.run,
        "checkpoint_step": gen.source.get("step"),
        "seeds": len(seeds),
        "rows": rows,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    where = Path(args.run) if Path(args.run).is_dir() else Path(".")  # pretrained:NAME: here
    path = Path(args.out) if args.out else where / "bench_seed_editing.json"
    path.write_text(json.dumps(out, indent=2))
    print("| task | floor | method | budget | success | sim of success | error of best | s/seed |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['task']} | {r['floor']} | {r['method']} | {r['budget']} | {r['success_rate']:.3f} | "
            f"{r['mean_similarity_of_success']:.3f} | {r['mean_error_of_best']:.3f} | "
            f"{r['seconds_per_seed']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
