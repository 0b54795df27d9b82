"""`seqcvae optimize`: edit given molecules toward property goals while they stay similar."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "optimize",
        help="edit molecules toward property goals at a similarity floor",
        description="Each seed's latent code is decoded under the new condition, then its neighbourhood "
        "is searched (a population of proposals around the best molecules so far, each decoded under "
        "the new condition and measured with RDKit). Properties without a goal keep the seed's values. "
        "Only molecules at or above --min-similarity (Tanimoto, Morgan r2 2048 bits) are returned.",
    )
    common.add_checkpoint_options(p)
    common.add_molecule_options(p, "seed molecules")
    p.add_argument(
        "--condition",
        "-c",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="goal, repeatable: -c LogP=3.2 (within --tolerance) or a range -c MolWt=250:350",
    )
    p.add_argument(
        "--shift",
        action="append",
        default=[],
        metavar="NAME=DELTA",
        help="goal relative to each seed's own value, repeatable: --shift LogP=1.0",
    )
    p.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="NAME=TOL",
        help="a value goal is met within TOL (default: 5%% of the property's training range)",
    )
    p.add_argument(
        "--min-similarity", type=float, default=0.4, help="similarity floor to the seed (default 0.4)"
    )
    p.add_argument("--budget", type=int, default=100, help="decoded proposals per seed (default 100)")
    p.add_argument("--keep", type=int, default=5, help="best candidates kept per seed in --out (default 5)")
    p.add_argument(
        "--out",
        help="sample file (.csv, .tsv, .parquet, .sdf, .smi): the best candidates of each "
        "seed (source = the seed)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the search")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (on stderr, when a terminal)")
    common.add_device_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.optimize import optimize

    if not 0.0 <= args.min_similarity <= 1.0:
        raise ConfigError(f"--min-similarity {args.min_similarity}: expected a number from 0 to 1")
    for flag, value in (("--budget", args.budget), ("--keep", args.keep)):
        if value < 1:
            raise ConfigError(f"{flag} {value}: expected a positive number")
    common.check_sample_file("--out", args.out)
    results, summary = optimize(
        args.checkpoint,
        args.smiles,
        args.input,
        args.column,
        targets=common.pairs(args.condition, "goal"),
        shifts=common.numbers(args.shift, "--shift"),
        tolerance=common.numbers(args.tolerance, "--tolerance"),
        min_similarity=args.min_similarity,
        budget=args.budget,
        keep=args.keep,
        out=args.out,
        which=args.which,
        device=args.device,
        seed=args.seed,
        workers=common.default_workers(),
        progress=not args.no_progress,
    )
    if args.json:
        print(common.dumps(summary))
        return 0
    for res in results[:20]:
        seed = res.task.seed
        goals = ", ".join(f"{g.name} {g.low:.3g}..{g.high:.3g}" for g in res.task.goals)
        print(f"seed {seed.canonical}  ({goals})")
        if not res.candidates:
            print(f"  no molecule at similarity >= {args.min_similarity} in {res.proposals} proposals")
        for c in res.candidates[:3]:
            props = " ".join(f"{g.name}={c.properties[g.name]:.3f}" for g in res.task.goals)
            mark = "meets goals" if c.error == 0 else f"misses by {c.error:.3f} sd"
            print(f"  {c.similarity:.2f}  {props}  {mark}  {c.canonical}")
    if len(results) > 20:
        print(f"... {len(results) - 20} more seeds")
    print(
        f"{int(summary['seeds'])} seeds: success {common.fmt(summary['success_rate'])} "
        f"(best candidate meets every goal at similarity >= {args.min_similarity}), "
        "mean similarity of successes "
        f"{common.fmt(summary['mean_similarity_of_success'])}"
    )
    if args.out:
        print(f"wrote the best {args.keep} candidates per seed to {args.out}")
    return 0
