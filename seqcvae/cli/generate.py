"""`seqcvae generate`: sample sequences under conditions, write them and summarise them."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError, DataError, SeqCVAEError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    g = sub.add_parser(
        "generate",
        help="sample sequences under conditions and check them",
        description=common.SAMPLE_DEFAULTS,
    )
    common.add_checkpoint_options(g)
    g.add_argument(
        "--condition",
        "-c",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="target, repeatable: -c LogP=2.5 -c MolWt=300; unnamed ones are free",
    )
    g.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    g.add_argument(
        "--out",
        help="sample file, one row per sample; the extension picks the format: .csv, .tsv, "
        ".parquet, .sdf or .smi (the last two: valid molecules only)",
    )
    g.add_argument("--greedy", action="store_true", help="argmax decoding")
    g.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (most likely sequence)")
    g.add_argument(
        "--length-penalty",
        type=float,
        metavar="A",
        help="beam search ranks finished sequences by log p / length**A (default 1: per token; 0: log p)",
    )
    common.add_sampling_options(g)
    g.add_argument(
        "--reference",
        help="molecules for novelty: a SMILES file (.smi/.txt) or a table with a SMILES column "
        "(.csv/.tsv/.jsonl, optionally .gz), canonicalised with RDKit (default: the run's training set)",
    )
    g.add_argument("--json", action="store_true", help="print the summary as JSON")
    common.add_device_option(g)
    return g


def check_beam_options(args: argparse.Namespace) -> None:
    """Beam search picks the most likely sequence: the sampling options would be ignored."""
    if args.beam is None:
        return
    given = [
        opt
        for opt, value in (
            ("--greedy", args.greedy or None),
            ("--temperature", args.temperature),
            ("--top-k", args.top_k),
            ("--top-p", args.top_p),
        )
        if value is not None
    ]
    if given:
        raise ConfigError(
            f"--beam {args.beam} searches for the most likely sequence and ignores {', '.join(given)}; "
            "drop one or the other"
        )


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.generate import generate

    check_beam_options(args)
    given = common.conditions(args.condition)
    if args.n < 1:
        raise SeqCVAEError(f"--n {args.n}: expected a positive number of samples")
    if args.batch_size is not None and args.batch_size < 1:
        raise SeqCVAEError(f"--batch-size {args.batch_size}: expected a positive number")
    common.check_sample_file("--out", args.out)
    if args.reference and not Path(args.reference).is_file():
        raise DataError(f"--reference {args.reference!r} does not exist or is not a file")
    result = generate(
        args.checkpoint,
        given,
        n=args.n,
        which=args.which,
        device=args.device,
        seed=args.seed,
        batch_size=args.batch_size,
        strategy="beam" if args.beam else "greedy" if args.greedy else None,
        beam_size=args.beam,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        guidance=args.guidance,
        length_penalty=args.length_penalty,
        out=args.out,
        reference=args.reference,
        workers=common.default_workers(),
        warn=common.warn,
    )
    records, summary, seconds = result.records, result.summary, result.seconds
    if args.json:
        print(common.dumps(summary))
    elif result.kind == "text":
        n = len(records)
        print(
            f"generated {n} in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f}/s); uniqueness "
            f"{common.fmt(summary['uniqueness'])}, distinct-1 {common.fmt(summary['distinct_1'])}, "
            f"distinct-2 {common.fmt(summary['distinct_2'])}"
        )
        if not args.out:
            for r in records[: min(n, 10)]:
                print(f"  {r.sequence}")
    else:
        common.print_summary(summary, seconds)
        if args.out:
            print(f"wrote {len(records)} rows to {args.out}")
    return 0
