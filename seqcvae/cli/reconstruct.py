"""`seqcvae reconstruct`: how many molecules of a file the model decodes back from their z."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "reconstruct",
        help="encode molecules and decode them back: reconstruction accuracy",
        description="Greedy decoding of each molecule's posterior mean under its own RDKit-measured "
        "properties; a reconstruction is exact when its canonical SMILES is the input's.",
    )
    common.add_checkpoint_options(p)
    common.add_molecule_options(p, "molecules to reconstruct")
    p.add_argument("--n", type=int, default=0, help="use the first N usable molecules (default: all)")
    p.add_argument("--sampled", type=int, default=0, metavar="K", help="also decode K draws z ~ q(z|x) each")
    p.add_argument(
        "--out",
        help="sample file (.csv, .tsv, .parquet, .sdf, .smi): one row per molecule "
        "(source, match, similarity, ...)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the --sampled draws")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    common.add_device_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.reconstruct import reconstruct

    for flag, value in (("--n", args.n), ("--sampled", args.sampled)):
        if value < 0:
            raise ConfigError(f"{flag} {value}: expected 0 or more")
    common.check_sample_file("--out", args.out)
    report = reconstruct(
        args.checkpoint,
        args.smiles,
        args.input,
        args.column,
        n=args.n,
        sampled=args.sampled,
        out=args.out,
        which=args.which,
        device=args.device,
        seed=args.seed,
        workers=common.default_workers(),
    )
    if args.json:
        print(common.dumps(report))
        return 0
    print(f"molecules        {report['molecules']} ({report['skipped']} the model cannot read, skipped)")
    print(
        f"reconstruction   {common.fmt(report['reconstruction'])}"
        "  (exact canonical match, z = posterior mean)"
    )
    if "reconstruction_sampled_z" in report:
        print(
            f"  z ~ q(z|x)     {common.fmt(report['reconstruction_sampled_z'])}  ({args.sampled} draws each)"
        )
    print(f"validity         {common.fmt(report['validity'])}")
    print(f"mean similarity  {common.fmt(report['mean_similarity'])}  (Tanimoto, Morgan r2 2048 bits)")
    print(f"KL per molecule  {report['kl_per_molecule']:.1f} nats")
    if args.out:
        common.print_wrote(args.out, report["molecules"])
    return 0
