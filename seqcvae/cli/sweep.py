"""`seqcvae sweep`: generate over a grid of targets into a directory (rerun to resume)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    sw = sub.add_parser(
        "sweep",
        help="generate over a grid of targets; summaries, plots and molecule images in a directory",
        description="Options override the --spec file. "
        + common.SAMPLE_DEFAULTS.replace("not given", "in neither"),
    )
    sw.add_argument("--checkpoint", required=True, help=common.CHECKPOINT_HELP)
    common.add_which_option(sw)
    sw.add_argument(
        "--spec", help="TOML sweep spec (targets, fixed, tolerance, sample, n, seed, batch_size, images, sdf)"
    )
    sw.add_argument(
        "--target",
        "-t",
        action="append",
        metavar="NAME=VALUES",
        help="swept condition: LogP=-1:5:13 (start:stop:steps), MolWt=250,350 or sentiment=pos,neg; "
        "several give their product",
    )
    sw.add_argument("--fixed", action="append", metavar="NAME=VALUE", help="condition held fixed")
    sw.add_argument("--tolerance", action="append", metavar="NAME=TOL", help="hit tolerance per property")
    sw.add_argument("--out", required=True, help="sweep directory (rerun the same command to resume)")
    sw.add_argument("--n", type=int, help="samples per target (default 100)")
    sw.add_argument("--images", type=int, help="example molecules drawn per target (default 12, 0 = none)")
    sw.add_argument("--sdf", action="store_true", help="also write valid molecules to molecules.sdf")
    sw.add_argument("--smi", action="store_true", help="also write valid molecules to molecules.smi")
    sw.add_argument("--parquet", action="store_true", help="also write the samples to samples.parquet")
    sw.add_argument("--greedy", action="store_true", help="argmax decoding")
    common.add_sampling_options(sw, "the --spec file, else the checkpoint's sample")
    sw.add_argument("--workers", type=int, default=1, help="RDKit worker processes")
    sw.add_argument("--no-plots", action="store_true")
    sw.add_argument("--json", action="store_true")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar (on stderr, when a terminal)")
    common.add_device_option(sw)
    return sw


def spec_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The spec keys the options give (None: not given, the spec file's or default value)."""
    tolerance: dict[str, float] = {}
    for name, value in common.pairs(args.tolerance, "--tolerance").items():
        try:
            tolerance[name] = float(value)
        except ValueError:
            raise ConfigError(f"--tolerance {name}={value!r}: expected a number") from None
    sample = {
        k: v
        for k, v in {
            "strategy": "greedy" if args.greedy else None,
            "temperature": args.temperature,
            "top_k": args.top_k,
            "top_p": args.top_p,
            "guidance": args.guidance,
            "grammar": args.grammar,
            "latent_temperature": args.latent_temperature,
        }.items()
        if v is not None
    }
    return {
        "targets": common.pairs(args.target, "--target"),
        "fixed": common.conditions(args.fixed, "--fixed"),
        "tolerance": tolerance,
        "sample": sample,
        "n": args.n,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "images": args.images,
        "sdf": True if args.sdf else None,
        "smi": True if args.smi else None,
        "parquet": True if args.parquet else None,
    }


def run(args: argparse.Namespace) -> int:
    from seqcvae.io.records import SAMPLE_FORMATS
    from seqcvae.recipes.sweep import sweep

    suffix = Path(args.out).suffix.lower()
    if suffix in SAMPLE_FORMATS and not Path(args.out).is_dir():
        raise ConfigError(
            f"--out {args.out!r}: a sweep writes a directory (samples.csv, summary.csv, ...), not a "
            f"{suffix} file; give a directory, with --parquet, --sdf or --smi for those formats"
        )

    overall = sweep(
        args.checkpoint,
        args.out,
        args.spec,
        spec_overrides(args),
        which=args.which,
        device=args.device,
        workers=args.workers,
        plots=not args.no_plots,
        log=common.eprint if args.json else print,  # --json: stdout holds only the JSON
        warn=common.warn,
        progress=not args.no_progress,
    )
    if overall:
        print(common.dumps(overall) if args.json else summary_text(overall, args.out))
    return 0


def summary_text(overall: dict[str, Any], out: str) -> str:
    """The overall summary of a sweep: targets, validity, per-property Spearman, MAE, hit rate."""
    fmt = common.fmt
    lines = [f"sweep: {overall['finished']}/{overall['targets']} targets x {overall['n_per_target']} samples"]
    if "validity" in overall:
        lines.append(f"  validity {overall['validity']:.3f}")
    for name, v in overall.items():
        if isinstance(v, dict) and "spearman" in v:
            lines.append(
                f"  {name}: Spearman {fmt(v['spearman'])}, MAE {fmt(v['mae'])}, hit rate "
                f"{fmt(v['hit_rate'])} (within {v['tolerance']:.3g})"
            )
    if isinstance(overall.get("plots"), str):
        lines.append(f"  {overall['plots']}")
    extra = "".join(f", {name}" for name in overall.get("files", []))
    lines.append(f"wrote {out}/summary.csv, samples.csv, overall.json{extra}")
    return "\n".join(lines)
