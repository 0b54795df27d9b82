"""`seqcvae neighbours`: molecules decoded around a seed's z, per radius."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "neighbours",
        help="molecules decoded around a seed molecule's latent code",
        description="Points at distance R from the seed's posterior mean in random directions, "
        "decoded greedily under the seed's own properties and measured with RDKit.",
    )
    common.add_checkpoint_options(p)
    p.add_argument("--smiles", required=True, help="the seed molecule")
    p.add_argument("--n", type=int, default=100, help="neighbours per radius (default 100)")
    p.add_argument(
        "--radius",
        action="append",
        type=float,
        metavar="R",
        help="distance from the seed's code, repeatable (default: 0.5, 1, 2, 4)",
    )
    p.add_argument(
        "--out",
        help="sample file (.csv, .tsv, .parquet, .sdf, .smi): one row per neighbour "
        "(radius, similarity, ...)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the directions")
    p.add_argument("--json", action="store_true", help="print the per-radius summary as JSON")
    common.add_device_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.neighbours import neighbours

    radii = args.radius or [0.5, 1.0, 2.0, 4.0]
    if args.n < 1:
        raise ConfigError(f"--n {args.n}: expected a positive number of neighbours per radius")
    bad = [r for r in radii if not r >= 0]
    if bad:
        raise ConfigError(f"--radius {bad[0]}: expected a distance >= 0")
    common.check_sample_file("--out", args.out)
    seed_mol, rows = neighbours(
        args.checkpoint,
        args.smiles,
        n=args.n,
        radii=radii,
        out=args.out,
        which=args.which,
        device=args.device,
        seed=args.seed,
        workers=common.default_workers(),
    )
    if args.json:
        print(common.dumps({"seed": seed_mol.canonical, "radii": rows}))
        return 0
    print(f"seed {seed_mol.canonical}")
    print(
        f"{'radius':>7}{'valid':>8}{'unique':>8}{'novel':>8}{'=seed':>7}{'sim p10':>9}{'median':>8}{'p90':>7}"
    )
    for r in rows:
        print(
            f"{r['radius']:>7.2f}{common.fmt(r['validity']):>8}{common.fmt(r['uniqueness']):>8}"
            f"{common.fmt(r['novelty']):>8}{common.fmt(r['same_as_seed'], 2):>7}"
            f"{common.fmt(r['similarity_p10']):>9}{common.fmt(r['similarity_median']):>8}"
            f"{common.fmt(r['similarity_p90']):>7}"
        )
    if args.out:
        common.print_wrote(args.out, args.n * len(radii))
    return 0
