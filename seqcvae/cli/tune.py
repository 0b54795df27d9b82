"""`seqcvae tune`: property-consistency tuning of a trained SMILES model (RDKit as the judge)."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.tuning.settings import TuneSettings

_DEFAULTS = TuneSettings()


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "tune",
        help="fine-tune a SMILES model so its samples land on their target properties",
        description="Property-consistency tuning: the model samples molecules under targets taken "
        "from real molecules' properties, RDKit measures them, and a policy gradient (leave-one-out "
        "baseline, KL penalty to the starting model) rewards samples that land close and penalises "
        "invalid ones. Writes a new run directory usable wherever a checkpoint is.",
    )
    common.add_checkpoint_options(p)
    p.add_argument("--out", required=True, help="the new run directory")
    p.add_argument(
        "--targets",
        required=True,
        help="SMILES file or table (SMILES column) whose molecules' RDKit properties are the targets",
    )
    p.add_argument(
        "--column", help="the SMILES column of --targets (default: SMILES, or a one-column file's)"
    )
    p.add_argument(
        "--target-rows", type=int, default=20000, help="molecules read from --targets (default 20000)"
    )
    p.add_argument("--steps", type=int, default=_DEFAULTS.steps, help=f"default {_DEFAULTS.steps}")
    p.add_argument(
        "--minutes", type=float, default=0.0, help="stop after this many minutes (default: no limit)"
    )
    p.add_argument("--lr", type=float, default=_DEFAULTS.lr, help=f"default {_DEFAULTS.lr:g}")
    p.add_argument(
        "--kl-weight",
        type=float,
        default=_DEFAULTS.kl_weight,
        help=f"penalty per nat of log p/p_start, in reward units (default {_DEFAULTS.kl_weight:g})",
    )
    p.add_argument("--conditions", type=int, default=_DEFAULTS.conditions_per_step, help="targets per step")
    p.add_argument(
        "--samples", type=int, default=_DEFAULTS.samples_per_condition, help="samples per target (>= 2)"
    )
    p.add_argument(
        "--unconditional",
        type=float,
        default=_DEFAULTS.unconditional_fraction,
        help="fraction of targets with every property unspecified: rewarded for validity alone "
        f"(default {_DEFAULTS.unconditional_fraction:g})",
    )
    p.add_argument(
        "--unconditional-kl",
        type=float,
        help="the KL penalty of those unconditional samples (default: --kl-weight); higher keeps "
        "the model's unconditional distribution of molecules where it was",
    )
    p.add_argument(
        "--anchor",
        type=float,
        default=_DEFAULTS.anchor_weight,
        help="weight per nat of a likelihood anchor: the decoder's NLL of target molecules from "
        "their own z ~ q(z|x), which keeps reconstruction (default off)",
    )
    p.add_argument(
        "--peak-nats",
        type=float,
        default=_DEFAULTS.peak_nats,
        help="penalise samples the model gives more than exp(-N): they would repeat when thousands "
        "are drawn for one target, so this keeps uniqueness (e.g. 12; default off)",
    )
    p.add_argument(
        "--peak-weight",
        type=float,
        default=_DEFAULTS.peak_weight,
        help=f"the peak penalty per nat above exp(-N), in reward units (default {_DEFAULTS.peak_weight:g})",
    )
    p.add_argument(
        "--even-targets",
        type=float,
        default=_DEFAULTS.even_fraction,
        metavar="F",
        help="share of targets drawn evenly over one property's range (1st-99th percentile of "
        "--targets) instead of at the molecules' own density: more practice at the tails "
        "(default 0)",
    )
    p.add_argument(
        "--decoder-only",
        action="store_true",
        help="train the decoder alone; the condition embedding, which the encoder also reads, "
        "stays, so molecules keep their z (for latent models)",
    )
    p.add_argument("--save-every", type=int, default=250, help="steps between checkpoints (default 250)")
    p.add_argument("--snapshots", action="store_true", help="also keep checkpoints/step-N at every save")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    common.add_device_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from seqcvae.errors import ConfigError
    from seqcvae.recipes.tune import tune

    for flag, value in (("--target-rows", args.target_rows), ("--save-every", args.save_every)):
        if value < 1:
            raise ConfigError(f"{flag} {value}: expected 1 or more")
    if args.threads < 0:
        raise ConfigError(f"--threads {args.threads}: expected 0 (torch's choice) or more")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = TuneSettings(
        steps=args.steps,
        max_minutes=args.minutes,
        conditions_per_step=args.conditions,
        samples_per_condition=args.samples,
        lr=args.lr,
        kl_weight=args.kl_weight,
        unconditional_fraction=args.unconditional,
        unconditional_kl_weight=args.unconditional_kl,
        anchor_weight=args.anchor,
        decoder_only=args.decoder_only,
        peak_nats=args.peak_nats,
        peak_weight=args.peak_weight,
        even_fraction=args.even_targets,
        seed=args.seed,
    )
    out = tune(
        args.checkpoint,
        args.out,
        args.targets,
        settings,
        which=args.which,
        device=args.device,
        target_rows=args.target_rows,
        column=args.column,
        save_every=args.save_every,
        snapshots=args.snapshots,
        overwrite=args.overwrite,
        workers=common.default_workers(),
        log=common.eprint,
    )
    common.eprint(f"wrote the tuned model to {out}")
    return 0
