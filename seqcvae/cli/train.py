"""`seqcvae train`: train a model from a config, --resume a run, or start one --init-from a
trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqcvae.cli.common import Subparsers
from seqcvae.errors import SeqCVAEError


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    from seqcvae.config import BUILTIN_CONFIGS

    t = sub.add_parser("train", help="train a model (or --resume a run)")
    t.add_argument(
        "--config",
        help=f"TOML file or built-in name ({', '.join(BUILTIN_CONFIGS)}); default smiles_default",
    )
    t.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. train.max_minutes=2 model.latent_dim=32",
    )
    t.add_argument("--out", help="run directory (default: the config's output_dir)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from checkpoints/last")
    t.add_argument(
        "--init-from",
        metavar="RUN",
        help="start a new run from a trained model (run or checkpoint directory): its weights, "
        "tokenizer and conditions; the optimizer and schedules start afresh (fine-tuning)",
    )
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing run (a directory with config.json and checkpoints/); refuses any other",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument(
        "--device",
        help="train on cpu, cuda or auto (the GPU when there is one); same as train.device=...",
    )
    return t


def run(args: argparse.Namespace) -> int:
    from seqcvae.config import load_config
    from seqcvae.recipes import train as recipe

    overrides = [*args.overrides, f"train.device={args.device}"] if args.device else list(args.overrides)
    if args.resume:
        if args.config or args.init_from:
            extra = "--config" if args.config else "--init-from"
            raise SeqCVAEError(f"--resume continues a run with its saved config; drop {extra}")
        cfg = recipe.resume_config(args.resume, overrides)
        recipe.train(cfg, Path(args.resume), resume=True, progress=not args.no_progress)
        return 0
    init = None
    if args.init_from:
        cfg, init = recipe.init_config(args.init_from, args.config, overrides)
    else:
        cfg = load_config(args.config, overrides)
    run_dir = Path(args.out or cfg.output_dir)
    from seqcvae.training.rundir import prepare_run_dir

    prepare_run_dir(run_dir, overwrite=args.overwrite)
    recipe.train(cfg, run_dir, progress=not args.no_progress, init_from=init)
    return 0
