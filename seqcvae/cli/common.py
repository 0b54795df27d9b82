"""What the commands share: stderr lines, number and JSON formatting, the options of commands that
load a trained model (--which, --device, the sampling options), condition parsing, output-file
checks and the SMILES sample summary."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seqcvae.config import SamplingSettings
from seqcvae.data.conditions import parse_condition, split_name_value
from seqcvae.errors import ConfigError
from seqcvae.fields import check_value
from seqcvae.formatting import to_json

# What each command module's add_parser(sub) adds its parser to.
Subparsers = argparse._SubParsersAction

SAMPLE_DEFAULTS = (
    "Sampling options that are not given take the checkpoint's [sample] settings (the run's "
    "config.json; `seqcvae info` shows them)."
)


def eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def warn(msg: str) -> None:
    """A warning as one line on stderr, like seqcvae's errors."""
    eprint(f"warning: {msg}")


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def dumps(obj: Any) -> str:
    return to_json(obj)


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


CHECKPOINT_HELP = "run directory, checkpoint directory, or pretrained:NAME (a model shipped with seqcvae)"


def add_which_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--which", default="best", choices=["best", "last"])


def add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    """--checkpoint (required) and --which, for the commands that load a trained model."""
    parser.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    add_which_option(parser)


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """--device for the commands that load a trained model (generation is on the CPU by default)."""
    parser.add_argument(
        "--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:N or auto"
    )


def add_sampling_options(parser: argparse.ArgumentParser, source: str = "the checkpoint's sample") -> None:
    """--seed, --batch-size, --temperature, --top-k, --top-p, --guidance, --latent-temperature,
    --grammar; not given (None): the checkpoint's value."""
    parser.add_argument("--seed", type=int, help=f"random seed (default: {source}.seed)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"sequences decoded at once; speed and memory only, the samples do not change "
        f"(default: {source}.batch_size)",
    )
    parser.add_argument("--temperature", type=float, help=f"default: {source}.temperature")
    parser.add_argument(
        "--top-k", type=int, help=f"sample among the K likeliest tokens, 0 = all (default: {source}.top_k)"
    )
    parser.add_argument("--top-p", type=float, help=f"nucleus sampling, 1 = off (default: {source}.top_p)")
    parser.add_argument(
        "--guidance",
        type=guidance_weight,
        metavar="W",
        help="classifier-free guidance: each step decodes from uncond + W * (cond - uncond), uncond "
        f"being the same latent with every condition unspecified; 1 = off, above 1 follows the "
        f"conditions harder (default: {source}.guidance)",
    )
    parser.add_argument(
        "--latent-temperature",
        type=latent_temperature,
        metavar="TAU",
        help="draw z from the prior at temperature TAU (z = TAU * eps): below 1 samples from the "
        "prior's denser middle, where the decoder writes more valid SMILES, at some cost in "
        f"diversity; 1 = the prior as trained (default: {source}.latent_temperature)",
    )
    parser.add_argument(
        "--grammar",
        action=argparse.BooleanOptionalAction,
        help="SMILES runs: never draw a token that breaks SMILES syntax (a branch or ring closure left "
        "open, a bond with nothing after it); a model that would end early closes what is open, and "
        "a molecule one more atom would make valid does not end yet "
        f"(default: {source}.grammar)",
    )


def _sampling_number(flag: str, key: str, text: str, expected: str) -> float:
    """The value of a numeric sampling option, checked against SamplingSettings.<key>'s range: a
    ConfigError (one line, exit status 2) rather than argparse's usage message, like every other
    bad setting."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a number; expected {expected}") from None
    (f,) = [f for f in dataclasses.fields(SamplingSettings) if f.name == key]
    check_value(flag, f, value)
    return value


def guidance_weight(text: str) -> float:
    """The value of --guidance (sample.guidance's range)."""
    return _sampling_number("--guidance", "guidance", text, "a number > 0 (1 = off)")


def latent_temperature(text: str) -> float:
    """The value of --latent-temperature (sample.latent_temperature's range)."""
    return _sampling_number("--latent-temperature", "latent_temperature", text, "a number > 0 (1 = off)")


def keep_bonus(text: str) -> float:
    """The value of transfer's --keep: a number >= 0, else a ConfigError (one line, exit status 2)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"--keep {text!r}: expected a bonus >= 0 for the input's own tokens (0 = off)")
    return value


def keep_mode(text: str) -> str:
    """The value of transfer's --keep-mode (transfer_settings.KEEP_MODES), else a ConfigError (one
    line, exit 2)."""
    from seqcvae.generation.transfer_settings import check_keep_mode

    return check_keep_mode(text)


def add_molecule_options(parser: argparse.ArgumentParser, what: str) -> None:
    """--smiles (repeatable), --input FILE and --column, for commands that read seed molecules."""
    parser.add_argument(
        "--smiles", action="append", default=[], metavar="SMILES", help=f"{what} (repeatable)"
    )
    parser.add_argument(
        "--input", metavar="FILE", help=f"{what} from a file: .smi/.txt, or a table (.csv/.tsv/.jsonl)"
    )
    parser.add_argument("--column", help="the --input table's column (default: the run's SMILES column)")


def conditions(items: Iterable[str] | None, what: str = "condition") -> dict[str, float | str]:
    """NAME=VALUE options -> {NAME: value}, numbers as floats (data.conditions.parse_condition)."""
    return dict(parse_condition(item, what) for item in items or [])


def pairs(items: Iterable[str] | None, what: str) -> dict[str, str]:
    """NAME=VALUE options -> {NAME: VALUE} as typed."""
    return dict(split_name_value(item, what) for item in items or [])


def numbers(items: Iterable[str] | None, flag: str) -> dict[str, float]:
    """NAME=NUMBER options -> {NAME: number}; the error names the option and the bad value."""
    out = {}
    for name, value in pairs(items, flag).items():
        try:
            out[name] = float(value)
        except ValueError:
            hint = f"; a range is a target: -c {name}={value}" if ":" in value else ""
            raise ConfigError(f"{flag} {name}={value!r}: expected a number{hint}") from None
    return out


def check_output_file(flag: str, path: str | None) -> None:
    """Fail before any work when an output file could not be written: its folder is missing, or the
    path is a folder."""
    if path is None:
        return
    if Path(path).is_dir():
        raise ConfigError(f"{flag} {path!r} is a folder; give a file name")
    if not Path(path).resolve().parent.is_dir():
        raise ConfigError(f"{flag} {path!r}: folder {str(Path(path).parent)!r} does not exist")


def check_sample_file(flag: str, path: str | None) -> None:
    """check_output_file, and the extension names a sample format (CSV, TSV, Parquet, SDF, .smi)."""
    from seqcvae.io.records import sample_format

    check_output_file(flag, path)
    if path is not None:
        sample_format(path, flag=flag)


def print_wrote(path: str, records: int) -> None:
    """The line that says what a sample file holds: `records` rows, or in a molecule format the
    valid molecules among them (counted in the file)."""
    from seqcvae.io.records import molecules_in_file

    held = molecules_in_file(path)
    rows = records if held is None else held
    left = f" ({records - rows} invalid left out: {Path(path).suffix} holds valid molecules only)"
    print(f"wrote {rows} rows to {path}" + (left if rows < records else ""))


def print_summary(summary: dict[str, Any], seconds: float) -> None:
    """The summary of SMILES samples: rates, then one line per property; notes on stderr."""
    n = int(summary["generated"])
    print(f"generated {n} in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f}/s)")
    print(f"validity   {fmt(summary['validity'])}")
    print(f"uniqueness {fmt(summary['uniqueness'])}")
    novelty = summary["novelty"]
    print(f"novelty    {fmt(novelty)}" + ("  (no training reference found)" if math.isnan(novelty) else ""))
    props = summary.get("properties", {})
    if props:
        width = max(14, *(len(p.get("label", name)) + 2 for name, p in props.items()))
        print(f"{'property':<{width}}{'target':>9}{'measured':>10}{'std':>8}{'MAE':>8}{'Spearman':>10}")
        for name, p in props.items():
            print(
                f"{p.get('label', name):<{width}}{p['target_mean']:>9.3f}{fmt(p['measured_mean']):>10}"
                f"{fmt(p['measured_std']):>8}{fmt(p['mae']):>8}{fmt(p['spearman']):>10}"
            )
    for note in summary.get("notes", []):
        eprint(f"note: {note}")
