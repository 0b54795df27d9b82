#!/usr/bin/env python
"""Verified generation on this machine: how fast molecules come out sampled only, sampled and
checked with RDKit (checked here after each batch, or in worker processes while the next batch is
sampled), how fast verified hits come for a LogP/TPSA target with tolerances, and RDKit's own rate
for the same properties on the same molecules with the same number of worker processes (parse +
measure: the most checking can deliver). Repeats are interleaved; medians are reported.

    python scripts/bench_verified.py                       # the research checkpoint, pretrained:moses-latent
    python scripts/bench_verified.py runs/x --n 5000 --workers 2 --hits 200 --json out.json
    python scripts/bench_verified.py --peer                # also the MOSES VAE peer's sampling speed

--peer runs ../shared/bench/peer_moses_vae.sh, which trains the peer for --peer-budget-s seconds,
samples --peer-samples molecules and scores them with the MOSES metrics (FCD included): several
minutes, and it needs the molsets environment the script sets up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Only light imports at the top: spawned RDKit workers run this file's top level again (as the
# `seqcvae` command's workers run its entry script), so torch is imported in main().
from seqcvae.chem.properties import analyse_many, prepare_worker  # noqa: E402
from seqcvae.parallel import process_pool  # noqa: E402

PEER = ROOT.parent / "shared" / "bench" / "peer_moses_vae.sh"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _pairs(items: list[str]) -> dict[str, float]:
    return {k: float(v) for k, v in (item.split("=", 1) for item in items)}


def _peer(budget_s: float, samples: int) -> dict[str, Any]:
    """The MOSES VAE peer's report (its sampling molecules/s among it), or why there is none."""
    cmd = ["bash", str(PEER), "--budget-s", str(budget_s), "--n-samples", str(samples)]
    data = ROOT.parent / "shared" / "data" / "moses"
    if data.is_dir():
        cmd += ["--data-dir", str(data)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = round(time.perf_counter() - t0, 1)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1], "wall_s": wall}
    report = json.loads(lines[-1])
    return {"sample_mols_per_s": report.get("sample_mols_per_s"), "wall_s": wall, "report": report}


class Bench:
    """One repeat of every measurement, on the same seed."""

    def __init__(
        self,
        gen: Any,
        request: dict[str, Any],
        selection: Any,
        settings: Any,
        n: int,
        batch_size: int,
        workers: int,
    ):
        self.gen, self.request, self.selection, self.settings = gen, request, selection, settings
        self.n, self.bs, self.workers = n, batch_size, workers
        self.names = (gen.measured_properties(),)

    def generate(self, seed: int, pool: Any) -> Any:
        return self.gen.generate(self.request, self.n, seed, self.bs, pool=pool)

    def piped(self, seed: int) -> Any:
        with process_pool(self.workers, prepare_worker, self.names) as pool:  # once per call, as the CLI
            return self.generate(seed, pool)

    def hunt(self, seed: int, wanted: int, pool: Any) -> Any:
        from seqcvae.generation.hits import Selector, find_hits

        return find_hits(
            self.gen,
            self.request,
            Selector(self.selection),
            wanted,
            max_samples=200 * wanted,
            seed=seed,
            batch_size=self.bs,
            settings=self.settings,
            pool=pool,
        )

    def hunt_piped(self, seed: int, wanted: int) -> Any:
        with process_pool(self.workers, prepare_worker, self.names) as pool:
            return self.hunt(seed, wanted, pool)

    def run(self, seed: int, wanted: int, warm: Any) -> tuple[dict[str, float], dict[str, Any]]:
        out: dict[str, float] = {}
        out["sample"], seqs = _timed(
            lambda: self.gen.sample_sequences([self.request] * self.n, seed, self.bs)
        )
        out["serial"], _ = _timed(lambda: self.generate(seed, None))
        out["pipeline"], _ = _timed(lambda: self.piped(seed))
        names = self.names[0]
        out["rdkit_serial"], _ = _timed(lambda: analyse_many(seqs, names))
        chunk = -(-len(seqs) // (4 * max(self.workers, 1)))
        out["rdkit_workers"], _ = _timed(lambda: analyse_many(seqs, names, chunk_size=chunk, pool=warm))
        goals = [p for p in names if p in {g.name for g in self.selection.goals}]  # what --hits measures
        out["rdkit_goals_serial"], _ = _timed(lambda: analyse_many(seqs, goals))
        out["rdkit_goals_workers"], _ = _timed(lambda: analyse_many(seqs, goals, chunk_size=chunk, pool=warm))
        out["hits_serial"], _ = _timed(lambda: self.hunt(seed, wanted, None))
        out["hits"], search = _timed(lambda: self.hunt_piped(seed, wanted))
        return out, {"hits": len(search.hits), "samples": len(search.drawn), "complete": search.complete}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "run",
        nargs="?",
        default="pretrained:moses-latent",
        help="run or checkpoint directory (default: the research checkpoint)",
    )
    ap.add_argument("--n", type=int, default=5000, help="molecules per throughput measurement")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="RDKit processes")
    ap.add_argument("--threads", type=int, default=0, help="torch threads for sampling (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--target", action="append", default=[], metavar="NAME=VALUE", help="default LogP=2.5 TPSA=60"
    )
    ap.add_argument(
        "--tolerance", action="append", default=[], metavar="NAME=TOL", help="default LogP=0.1 TPSA=5"
    )
    ap.add_argument("--hits", type=int, default=200, help="verified hits per hit-rate measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--peer", action="store_true", help="also run the MOSES VAE peer (minutes; see above)")
    ap.add_argument("--peer-budget-s", type=float, default=120.0)
    ap.add_argument("--peer-samples", type=int, default=5000)
    args = ap.parse_args()
    import torch

    from seqcvae.generation.generator import Generator
    from seqcvae.generation.hits import Selection, request_goals

    if args.threads:
        torch.set_num_threads(args.threads)

    gen = Generator.load(args.run)
    names = gen.measured_properties()
    targets = _pairs(args.target) or {"LogP": 2.5, "TPSA": 60.0}
    tolerance = _pairs(args.tolerance) or {"LogP": 0.1, "TPSA": 5.0}
    request, goals = request_goals(gen.conditions, targets, tolerance, names)
    settings = gen.default_settings()
    n, bs, w = args.n, args.batch_size, args.workers
    times: dict[str, list[float]] = {
        k: []
        for k in (
            "sample",
            "serial",
            "pipeline",
            "rdkit_serial",
            "rdkit_workers",
            "rdkit_goals_serial",
            "rdkit_goals_workers",
            "hits_serial",
            "hits",
        )
    }
    hit_stats: list[dict[str, Any]] = []
    with process_pool(w, prepare_worker, (names,)) as warm:  # RDKit's limit: workers already started
        if warm is not None:
            warm.map(abs, range(4 * w))  # wait until the workers are up (they import RDKit)
        gen.sample_sequences([request] * min(n, bs), args.seed, bs, settings)  # warm-up, not timed
        for rep in range(args.repeats):
            bench = Bench(gen, request, Selection(valid=True, goals=tuple(goals)), settings, n, bs, w)
            seconds, stats = bench.run(args.seed + rep, args.hits, warm)
            for k, v in seconds.items():
                times[k].append(v)
            hit_stats.append(stats)
            done = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
            print(f"repeat {rep + 1}/{args.repeats}: {done}; {stats}", file=sys.stderr, flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: n / med[k] for k in times if not k.startswith("hits")}
    hits = statistics.median(h["hits"] for h in hit_stats)
    drawn = statistics.median(h["samples"] for h in hit_stats)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "checkpoint": str(args.run),
        "properties_checked": names,
        "n": n,
        "batch_size": bs,
        "workers": w,
        "repeats": args.repeats,
        "sampling": dict(vars(settings)),
        "molecules_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratios": {
            "pipeline_vs_serial": round(rate["pipeline"] / rate["serial"], 2),
            "pipeline_vs_sampling_only": round(rate["pipeline"] / rate["sample"], 2),
            "serial_vs_sampling_only": round(rate["serial"] / rate["sample"], 2),
            "pipeline_vs_rdkit_limit": round(rate["pipeline"] / rate["rdkit_workers"], 2),
        },
        "hits": {
            "targets": targets,
            "tolerance": tolerance,
            "goals": [[g.name, g.low, g.high] for g in goals],
            "wanted": args.hits,
            "found_median": hits,
            "samples_median": drawn,
            "acceptance": round(hits / drawn, 4) if drawn else 0.0,
            "hits_per_s_pipeline": round(hits / med["hits"], 2),
            "hits_per_s_serial": round(hits / med["hits_serial"], 2),
            "pipeline_vs_serial": round(med["hits_serial"] / med["hits"], 2),
            "samples_per_s_pipeline": round(drawn / med["hits"], 1),
            "samples_per_s_serial": round(drawn / med["hits_serial"], 1),
            "runs": hit_stats,
        },
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    if args.peer:
        result["peer_moses_vae"] = _peer(args.peer_budget_s, args.peer_samples)

    rows = [
        ("sampled only", rate["sample"]),
        ("sampled + checked here after each batch", rate["serial"]),
        (f"sampled + checked in {w} workers, overlapped", rate["pipeline"]),
        ("RDKit alone, this process (parse + properties)", rate["rdkit_serial"]),
        (f"RDKit alone, {w} warm workers (the limit)", rate["rdkit_workers"]),
        ("RDKit alone on the goals' properties, this process", rate["rdkit_goals_serial"]),
        (f"RDKit alone on the goals' properties, {w} workers", rate["rdkit_goals_workers"]),
    ]
    print(f"{'molecules/s (median of ' + str(args.repeats) + ')':<52}{'':>10}")
    for label, value in rows:
        print(f"  {label:<50}{value:>10.1f}")
    h = result["hits"]
    print(
        f"verified hits ({', '.join(f'{g.name} {g.low:g}..{g.high:g}' for g in goals)}): acceptance "
        f"{h['acceptance']:.4f}, {h['hits_per_s_pipeline']:.1f} hits/s overlapped, "
        f"{h['hits_per_s_serial']:.1f} hits/s checked here ({h['samples_per_s_pipeline']:.0f} and "
        f"{h['samples_per_s_serial']:.0f} samples/s)"
    )
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in result["ratios"].items()))
    if "peer_moses_vae" in result:
        print(f"MOSES VAE peer: {result['peer_moses_vae']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
