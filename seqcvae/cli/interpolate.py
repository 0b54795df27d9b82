"""`seqcvae interpolate A B`: the molecules on the latent path between two molecules."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "interpolate",
        help="decode the latent path between two molecules",
        description="K points from A's posterior mean to B's (ends included), decoded greedily under "
        "properties interpolated between A's and B's, each measured with RDKit.",
    )
    p.add_argument("a", metavar="A", help="first molecule (SMILES)")
    p.add_argument("b", metavar="B", help="second molecule (SMILES)")
    common.add_checkpoint_options(p)
    p.add_argument("--steps", type=int, default=10, help="points on the path, ends included (default 10)")
    p.add_argument(
        "--method", choices=["linear", "spherical"], default="linear", help="path shape (default linear)"
    )
    p.add_argument(
        "--out",
        help="sample file (.csv, .tsv, .parquet, .sdf, .smi): one row per step (t, similarity "
        "to A and B, properties, ...)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    common.add_device_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.interpolate import interpolate

    if args.steps < 2:
        raise ConfigError(f"--steps {args.steps}: a path needs at least 2 points")
    common.check_sample_file("--out", args.out)
    records, summary = interpolate(
        args.checkpoint,
        args.a,
        args.b,
        steps=args.steps,
        method=args.method,
        out=args.out,
        which=args.which,
        device=args.device,
    )
    if args.json:
        print(common.dumps(summary))
        return 0
    print(f"{'step':>4}{'t':>6}{'sim A':>7}{'sim B':>7}  molecule")
    for r in records:
        e = r.extra
        print(
            f"{e['step']:>4}{e['t']:>6.2f}"
            f"{common.fmt(e['similarity_a'], 2):>7}{common.fmt(e['similarity_b'], 2):>7}"
            f"  {r.canonical or '(invalid) ' + r.sequence}"
        )
    print(
        f"validity {common.fmt(summary['validity'])}, {summary['distinct_molecules']} distinct molecules; "
        f"ends decode to A: {'yes' if summary['starts_at_a'] else 'no'}, "
        f"to B: {'yes' if summary['ends_at_b'] else 'no'}"
    )
    if args.out:
        common.print_wrote(args.out, len(records))
    return 0
