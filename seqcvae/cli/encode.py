"""`seqcvae encode`: SMILES -> posterior mean and variance (.npy, .npz, .csv or .tsv)."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    p = sub.add_parser("encode", help="encode SMILES: posterior mean and variance of z")
    common.add_checkpoint_options(p)
    common.add_molecule_options(p, "molecules to encode")
    p.add_argument(
        "--out",
        required=True,
        help=".npy (array N x 2 x Z: mean, variance), .npz (mean, variance, smiles) or .csv/.tsv "
        "(smiles, mean_0.., var_0..)",
    )
    common.add_device_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from seqcvae.latent.io import check_encoding_path
    from seqcvae.recipes.encode import encode

    common.check_output_file("--out", args.out)
    check_encoding_path(args.out)
    result = encode(
        args.checkpoint, args.smiles, args.input, args.column, args.out, which=args.which, device=args.device
    )
    print(
        f"encoded {result.molecules} molecules into {result.latent_dim} latent dimensions "
        f"(KL {result.kl_per_molecule:.1f} nats per molecule); wrote {args.out}"
    )
    return 0
