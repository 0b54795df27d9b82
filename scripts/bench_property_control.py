#!/usr/bin/env python
"""Property control by MolGPT's MOSES protocol: how close samples land to the property asked for.

Targets (MolGPT's conditional MOSES experiments): LogP 1, 2, 3; TPSA 30, 60, 90; SAS 2, 2.75,
3.5; QED 0.6, 0.725, 0.85, each alone with every other condition unspecified; and the joint
pairs TPSA+LogP = (40, 2), (80, 2), (40, 4), (80, 4). Each target gets N samples (default 10,000)
drawn at T = 1 without top-k or top-p (the protocol; --temperature, --top-p and --guidance move
away from it) with the same seed, so that settings compare on the same latent draws.

Per target: MAD and SD of |measured - target| over the valid samples, duplicates included (per
property for a joint target; the SD of the measured values themselves is reported too, for
tables that give that), validity, uniqueness (of the valid), novelty (of the unique valid,
against --reference, by default the run's training molecules), distinct hits (the distinct
valid molecules within HIT_WINDOWS of every property asked for: what a chemist keeps, where
precision and repeats meet), seconds (sampling and RDKit).
A target on a property the model is not conditioned on, or cannot have measured, is skipped
with a note. Prints a table; --out writes the JSON.

    python scripts/bench_property_control.py pretrained:moses-latent --n 1000 \\
        --guidance 2 --out guidance2.json
    python scripts/bench_property_control.py runs/smiles_default --targets LogP TPSA+LogP=40,2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.chem.metrics import set_metrics  # noqa: E402
from seqcvae.errors import ConfigError, SeqCVAEError  # noqa: E402
from seqcvae.formatting import to_json  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.generation.records import Record  # noqa: E402
from seqcvae.io.atomic import atomic_write_text  # noqa: E402

Target = dict[str, float]

# The protocol's targets by group: a group is one property (each value alone) or a joint pair.
GROUPS: dict[str, list[Target]] = {
    "LogP": [{"LogP": v} for v in (1.0, 2.0, 3.0)],
    "TPSA": [{"TPSA": v} for v in (30.0, 60.0, 90.0)],
    "SAS": [{"SAS": v} for v in (2.0, 2.75, 3.5)],
    "QED": [{"QED": v} for v in (0.6, 0.725, 0.85)],
    "TPSA+LogP": [{"TPSA": t, "LogP": p} for t, p in ((40.0, 2.0), (80.0, 2.0), (40.0, 4.0), (80.0, 4.0))],
}


# A tight window per property for the distinct-hits count (under half of MolGPT's MAD for each).
HIT_WINDOWS = {"LogP": 0.1, "TPSA": 2.0, "SAS": 0.05, "QED": 0.02, "MolWt": 5.0}


def label(target: Target) -> str:
    """ "LogP=2" or "TPSA+LogP=40,2" (the spelling --targets reads back)."""
    return f"{'+'.join(target)}={','.join(f'{v:g}' for v in target.values())}"


def parse_target(item: str) -> list[Target]:
    """A group name (LogP, TPSA+LogP, ...) or one target spelled as `label` writes it."""
    if item in GROUPS:
        return GROUPS[item]
    names, sep, values = item.partition("=")
    parts, numbers = names.split("+"), values.split(",")
    try:
        floats = [float(v) for v in numbers]
    except ValueError:
        floats = []
    if not sep or len(parts) != len(floats) or not all(parts):
        raise ConfigError(
            f"--targets {item!r}: expected a group ({', '.join(GROUPS)}) or a target such as "
            "LogP=2.5 or TPSA+LogP=40,2"
        )
    return [dict(zip(parts, floats))]


def missing_note(gen: Generator, target: Target) -> str | None:
    """Why `target` cannot be scored on this model (None when it can)."""
    conditioned = {c.name for c in gen.conditions.continuous}
    lacking = [n for n in target if n not in conditioned]
    if lacking:
        known = ", ".join(sorted(conditioned)) or "none"
        return f"the model is not conditioned on {', '.join(lacking)} (its continuous conditions: {known})"
    unmeasured = [n for n in target if n not in gen.measured_properties()]
    if unmeasured:
        return f"{', '.join(unmeasured)} cannot be measured with RDKit on the samples"
    return None


def deviations(records: list[Record], target: Target) -> dict[str, dict[str, float]]:
    """Per property: MAD and SD of |measured - target|, mean and SD of the measured values, over
    the valid samples (duplicates included)."""
    out = {}
    for name, value in target.items():
        measured = np.array([r.properties[name] for r in records if r.valid], dtype=np.float64)
        if not len(measured):
            out[name] = {"n": 0.0, "mad": float("nan"), "sd": float("nan")}
            continue
        err = np.abs(measured - value)
        out[name] = {
            "n": float(len(measured)),
            "mad": float(err.mean()),
            "sd": float(err.std()),
            "measured_mean": float(measured.mean()),
            "measured_sd": float(measured.std()),
        }
    return out


def distinct_hits(records: list[Record], target: Target) -> int | None:
    """Distinct valid molecules within HIT_WINDOWS of every property of `target` (None when a
    property has no window)."""
    if any(name not in HIT_WINDOWS for name in target):
        return None
    return len(
        {
            r.canonical
            for r in records
            if r.valid and all(abs(r.properties[n] - v) <= HIT_WINDOWS[n] for n, v in target.items())
        }
    )


def score_target(
    gen: Generator, target: Target, args: argparse.Namespace, reference: set[str] | None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    request = gen.conditions.canonical_request(target)
    records = gen.generate(
        request,
        n=args.n,
        seed=args.seed,
        batch_size=args.batch_size or gen.config.sample.batch_size,
        workers=args.workers,
        strategy="sample",
        temperature=args.temperature,
        top_k=0,
        top_p=args.top_p,
        guidance=args.guidance,
        grammar=args.grammar,
    )
    rates = set_metrics([r.canonical for r in records], reference)
    return {
        "target": label(target),
        "conditions": dict(request),
        "properties": deviations(records, target),
        "validity": rates["validity"],
        "uniqueness": rates["uniqueness"],
        "novelty": rates["novelty"],
        "distinct_hits": distinct_hits(records, target),
        "seconds": round(time.perf_counter() - t0, 1),
        "warnings": gen.conditions.out_of_range(request),
    }


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x:.{digits}f}"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'target':<18}{'property':<10}{'MAD':>8}{'SD':>8}{'valid':>8}{'unique':>8}{'novel':>8}"
        f"{'hits':>8}{'s':>8}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        for i, (name, d) in enumerate(row["properties"].items()):
            rates = (
                f"{fmt(row['validity']):>8}{fmt(row['uniqueness']):>8}{fmt(row['novelty']):>8}"
                f"{'n/a' if row.get('distinct_hits') is None else row['distinct_hits']:>8}"
                f"{row['seconds']:>8.1f}"
                if i == 0
                else ""
            )
            first = row["target"] if i == 0 else ""
            lines.append(f"{first:<18}{name:<10}{fmt(d['mad']):>8}{fmt(d['sd']):>8}{rates}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="run directory or checkpoint directory")
    ap.add_argument("--which", default="best", choices=["best", "last"])
    ap.add_argument("--n", type=int, default=10000, help="samples per target (default 10000)")
    ap.add_argument(
        "--targets",
        nargs="+",
        default=list(GROUPS),
        metavar="T",
        help=f"groups ({', '.join(GROUPS)}; default all) or targets such as LogP=2.5, TPSA+LogP=40,2",
    )
    ap.add_argument("--temperature", type=float, default=1.0, help="default 1 (the protocol)")
    ap.add_argument("--top-p", type=float, default=1.0, help="default 1: off (the protocol)")
    ap.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance; default 1: off")
    ap.add_argument(
        "--grammar", action="store_true", help="mask tokens that break SMILES syntax (sample.grammar)"
    )
    ap.add_argument("--seed", type=int, default=0, help="the same for every target")
    ap.add_argument("--batch-size", type=int, help="default: the checkpoint's sample.batch_size")
    ap.add_argument("--reference", help="molecules for novelty (default: the run's training molecules)")
    ap.add_argument("--workers", type=int, default=1, help="RDKit worker processes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", help="JSON file of the results")
    args = ap.parse_args()
    try:
        return run(args)
    except SeqCVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"--n {args.n}: expected a positive number of samples per target")
    targets = [t for item in args.targets for t in parse_target(item)]
    t0 = time.perf_counter()
    gen = Generator.load(args.checkpoint, which=args.which, device=args.device)
    # checked before any work
    gen.default_settings(
        temperature=args.temperature, top_p=args.top_p, guidance=args.guidance, grammar=args.grammar
    )
    if gen.kind != "smiles":
        raise ConfigError(f"{args.checkpoint!r} is a {gen.kind} model; this benchmark samples molecules")
    reference = gen.reference_set(args.reference, workers=args.workers)
    notes = list(gen.notes)
    if reference is None:
        notes.append("no training reference with this checkpoint: novelty n/a (give --reference)")
    rows, skipped = [], []
    for target in targets:
        why = missing_note(gen, target)
        if why is not None:
            skipped.append({"target": label(target), "note": why})
            continue
        rows.append(score_target(gen, target, args, reference))
        print(f"{rows[-1]['target']}: {rows[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "checkpoint": args.checkpoint,
        "checkpoint_source": gen.source,
        "protocol": {
            "n_per_target": args.n,
            "seed": args.seed,
            "strategy": "sample",
            "temperature": args.temperature,
            "top_k": 0,
            "top_p": args.top_p,
            "guidance": args.guidance,
            "grammar": args.grammar,
            "conditions": "each target alone, every other condition unspecified",
        },
        "reference": args.reference or ("the run's training molecules" if reference is not None else None),
        "reference_molecules": len(reference) if reference is not None else None,
        "labels": {n: gen.property_label(n) for n in gen.measured_properties()},
        "targets": rows,
        "skipped": skipped,
        "notes": notes,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(table(rows))
    for s in skipped:
        print(f"skipped {s['target']}: {s['note']}")
    for note in notes:
        print(f"note: {note}")
    if args.out:
        atomic_write_text(args.out, to_json(report) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
