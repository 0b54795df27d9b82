"""`seqcvae info`: describe a checkpoint as JSON."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("--checkpoint", required=True)
    common.add_which_option(i)
    return i


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.info import checkpoint_info

    print(common.dumps(checkpoint_info(args.checkpoint, which=args.which)))
    return 0
