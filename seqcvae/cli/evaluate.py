"""`seqcvae evaluate`: diagnostics and sample metrics of a run, or MOSES metrics of a SMILES file."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    ev = sub.add_parser(
        "evaluate",
        help="diagnostics and sample metrics of a run, or MOSES metrics of a SMILES file",
    )
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="the model to evaluate: " + common.CHECKPOINT_HELP)
    what.add_argument("--smiles", help="a SMILES file to score with the MOSES metrics (no model needed)")
    common.add_which_option(ev)
    ev.add_argument("--data", help="held-out file (default: the run's validation data)")
    ev.add_argument("--k", type=int, default=50, help="importance samples for IW-NLL (default 50)")
    ev.add_argument(
        "--protocol",
        choices=["conditional", "moses"],
        default="conditional",
        help="how SMILES runs are sampled for the sample metrics: 'conditional' (default) under the "
        "conditions of held-out molecules with the run's sampling settings, scored against "
        "--reference (default: the held-out molecules), not comparable with MOSES tables; 'moses' as "
        "the MOSES paper: unconditional, temperature 1, no top-k/top-p, 30000 samples, scored "
        "against --test and --test-scaffolds",
    )
    ev.add_argument(
        "--n",
        type=int,
        help="samples for the sample metrics (default 1000; with --protocol moses 30000, as MOSES)",
    )
    ev.add_argument(
        "--test",
        metavar="FILE",
        help="--protocol moses: the MOSES test split (default data/moses_full/test.csv.gz from "
        "scripts/prepare_moses_full.py, else the shipped data/moses_sample/test.csv.gz)",
    )
    ev.add_argument(
        "--test-scaffolds",
        metavar="FILE",
        help="--protocol moses: the MOSES scaffold test split (default "
        "data/moses_full/test_scaffolds.csv.gz when present)",
    )
    ev.add_argument(
        "--max-sequences",
        type=int,
        default=2000,
        help="held-out sequences for the diagnostics, the first N of the file or split (default "
        "2000; 0 = all, as a published test perplexity is)",
    )
    ev.add_argument(
        "--reference",
        action="append",
        metavar="[NAME=]FILE",
        help="reference SMILES for SNN/Frag/Scaf/FCD, repeatable (first: 'Test'); default for a run: "
        "its held-out molecules (--protocol moses: see --test). Statistics are cached under "
        "~/.cache/seqcvae",
    )
    ev.add_argument("--train", help="training SMILES for novelty (--smiles; a run uses its own)")
    ev.add_argument("--column", help="SMILES column of table files (default: SMILES, or the only column)")
    ev.add_argument("--workers", type=int, default=common.default_workers(), help="worker processes")
    ev.add_argument("--no-fcd", action="store_true", help="skip the Frechet ChemNet Distance")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar (on stderr, when a terminal)")
    ev.add_argument("--out", help="write the report as JSON here")
    common.add_device_option(ev)
    return ev


def run(args: argparse.Namespace) -> int:
    from seqcvae.evaluation.formatting import format_report
    from seqcvae.recipes import evaluate as recipe

    n = recipe.default_samples(args.protocol) if args.n is None else args.n
    for flag, value, lowest in (("--workers", args.workers, 1), ("--k", args.k, 1), ("--n", n, 0)):
        if value < lowest:
            raise ConfigError(f"{flag} {value}: expected a whole number >= {lowest}")
    if args.max_sequences < 0:
        raise ConfigError(f"--max-sequences {args.max_sequences}: expected >= 0 (0 = all)")
    common.check_output_file("--out", args.out)
    references = recipe.resolve_references(
        args.protocol, args.reference, args.test, args.test_scaffolds, smiles_file=bool(args.smiles)
    )
    report = recipe.evaluate(
        args.checkpoint,
        args.smiles,
        references=references,
        out=args.out,
        which=args.which,
        data=args.data,
        k=args.k,
        n_samples=n,
        max_sequences=args.max_sequences,
        seed=args.seed,
        device=args.device,
        protocol=args.protocol,
        train=args.train,
        column=args.column,
        workers=args.workers,
        fcd=not args.no_fcd,
        progress=not args.no_progress,
        log=common.eprint,
    )
    print(common.dumps(report) if args.json else format_report(report))
    return 0
