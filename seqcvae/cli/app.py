"""The `seqcvae` parser, assembled from the command modules, and `main`: the one place that turns
seqcvae's errors into one `error: ...` line on stderr (exit status 2) and its warnings into one
`warning: ...` line.

A command is a module of this package with `add_parser(sub)`, which adds and returns its
subparser, and `run(args) -> int`; it is registered by adding it to COMMANDS.
"""

from __future__ import annotations

import argparse
import signal
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from seqcvae.cli import (
    encode,
    evaluate,
    fit_prior,
    generate,
    info,
    interpolate,
    neighbours,
    optimize,
    reconstruct,
    sweep,
    train,
    transfer,
    tune,
)
from seqcvae.cli.common import Subparsers, eprint
from seqcvae.errors import SeqCVAEError, SeqCVAEWarning


class Command(Protocol):
    def add_parser(self, sub: Subparsers) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace) -> int: ...


# The commands, in the order `seqcvae --help` lists them.
COMMANDS: tuple[Command, ...] = (
    train,
    tune,
    generate,
    transfer,
    evaluate,
    fit_prior,
    sweep,
    encode,
    reconstruct,
    neighbours,
    interpolate,
    optimize,
    info,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seqcvae",
        description="Sequence conditional VAE: train, then generate SMILES near target properties or "
        "text in a given style.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(func=command.run)
    return p


def _one_line_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """seqcvae's own warnings as one line, like its errors; others as `show` shows them."""

    def shown(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, SeqCVAEWarning):
            eprint(f"warning: {message}")
        else:
            show(message, category, *args, **kwargs)

    return shown


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may sit on either side of options (`train A=1 --out X B=2`): argparse
    # takes only the first group as the positional list; the rest arrive here.
    stray = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill PID`, a job scheduler's stop), raised where the program is, so that it stops
    as Ctrl-C does: a training or tuning run saves checkpoints/last first."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)  # signal handlers can only be set from the main thread
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = _parse(build_parser(), argv)  # an option's type may raise a SeqCVAEError too
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return int(args.func(args))
    except SeqCVAEError as exc:
        eprint(f"error: {exc}")
        return 2
    except Terminated:
        eprint("terminated")
        return 143
    except KeyboardInterrupt:
        eprint("interrupted")
        return 130
    except BrokenPipeError:
        return 0
