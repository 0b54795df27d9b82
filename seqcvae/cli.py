"""Command-line interface: `seqcvae train | generate | transfer | evaluate | sweep | info`.

The only module that reads argv or config files. User errors (SeqCVAEError) are printed as one
line without a traceback, exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seqcvae.data.conditions import parse_condition, split_name_value
from seqcvae.errors import ConfigError, DataError, SeqCVAEError, SeqCVAEWarning
from seqcvae.formatting import to_json


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from seqcvae.config import load_config
    from seqcvae.recipes import train as recipe

    if args.device:
        args.overrides = [*args.overrides, f"train.device={args.device}"]

    if args.resume:
        if args.config:
            raise SeqCVAEError("--resume continues a run with its saved config; drop --config")
        cfg = recipe.resume_config(args.resume, args.overrides)
        recipe.train(cfg, Path(args.resume), resume=True, progress=not args.no_progress)
        return 0
    cfg = load_config(args.config, args.overrides)
    run_dir = Path(args.out or cfg.output_dir)
    recipe.prepare_run_dir(run_dir, overwrite=args.overwrite)
    recipe.train(cfg, run_dir, progress=not args.no_progress)
    return 0


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def print_summary(summary: dict[str, Any], seconds: float) -> None:
    n = int(summary["generated"])
    print(f"generated {n} in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f}/s)")
    print(f"validity   {_fmt(summary['validity'])}")
    print(f"uniqueness {_fmt(summary['uniqueness'])}")
    novelty = summary["novelty"]
    print(f"novelty    {_fmt(novelty)}" + ("  (no training reference found)" if math.isnan(novelty) else ""))
    props = summary.get("properties", {})
    if props:
        width = max(14, *(len(p.get("label", name)) + 2 for name, p in props.items()))
        print(f"{'property':<{width}}{'target':>9}{'measured':>10}{'std':>8}{'MAE':>8}{'Spearman':>10}")
        for name, p in props.items():
            print(
                f"{p.get('label', name):<{width}}{p['target_mean']:>9.3f}{_fmt(p['measured_mean']):>10}"
                f"{_fmt(p['measured_std']):>8}{_fmt(p['mae']):>8}{_fmt(p['spearman']):>10}"
            )
    for note in summary.get("notes", []):
        _eprint(f"note: {note}")


def _workers() -> int:
    return min(4, os.cpu_count() or 1)


def _check_beam_options(args: argparse.Namespace) -> None:
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


def cmd_generate(args: argparse.Namespace) -> int:
    from seqcvae.recipes.generate import generate

    _check_beam_options(args)
    given = dict(parse_condition(c) for c in args.condition)
    if args.n < 1:
        raise SeqCVAEError(f"--n {args.n}: expected a positive number of samples")
    if args.batch_size is not None and args.batch_size < 1:
        raise SeqCVAEError(f"--batch-size {args.batch_size}: expected a positive number")
    check_output_file("--out", args.out)
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
        length_penalty=args.length_penalty,
        out=args.out,
        reference=args.reference,
        workers=_workers(),
        warn=lambda w: _eprint(f"warning: {w}"),
    )
    records, summary, seconds = result.records, result.summary, result.seconds
    if args.json:
        print(_dumps(summary))
    elif result.kind == "text":
        n = len(records)
        print(
            f"generated {n} in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f}/s); uniqueness "
            f"{_fmt(summary['uniqueness'])}, distinct-1 {_fmt(summary['distinct_1'])}, "
            f"distinct-2 {_fmt(summary['distinct_2'])}"
        )
        if not args.out:
            for r in records[: min(n, 10)]:
                print(f"  {r.sequence}")
    else:
        print_summary(summary, seconds)
        if args.out:
            print(f"wrote {len(records)} rows to {args.out}")
    return 0


def check_output_file(flag: str, path: str | None) -> None:
    """Fail before any work when an output file could not be written: its folder is missing, or the
    path is a folder."""
    if path is None:
        return
    if Path(path).is_dir():
        raise ConfigError(f"{flag} {path!r} is a folder; give a file name")
    if not Path(path).resolve().parent.is_dir():
        raise ConfigError(f"{flag} {path!r}: folder {str(Path(path).parent)!r} does not exist")


def cmd_transfer(args: argparse.Namespace) -> int:
    from seqcvae.recipes.transfer import transfer

    given_target = dict(parse_condition(c) for c in args.condition)
    if not given_target:
        raise SeqCVAEError("give the target with --condition NAME=VALUE, e.g. -c sentiment=pos")
    given_source = dict(parse_condition(c) for c in args.source)
    check_output_file("--out", args.out)
    result = transfer(
        args.checkpoint,
        given_target,
        given_source,
        texts=args.text,
        input_path=args.input,
        column=args.column,
        which=args.which,
        device=args.device,
        seed=args.seed,
        sample=args.sample,
        out=args.out,
    )
    if args.out:
        print(f"wrote {len(result.records)} rows to {args.out}")
    else:
        for src, r in zip(result.sources, result.records):
            print(f"{src}\n  -> {r.sequence}")
    return 0


def _dumps(obj: Any) -> str:
    return to_json(obj)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from seqcvae.evaluation.report import format_report
    from seqcvae.recipes import evaluate as recipe

    n = recipe.default_samples(args.protocol) if args.n is None else args.n
    for flag, value, lowest in (("--workers", args.workers, 1), ("--k", args.k, 1), ("--n", n, 0)):
        if value < lowest:
            raise ConfigError(f"{flag} {value}: expected a whole number >= {lowest}")
    if args.max_sequences < 0:
        raise ConfigError(f"--max-sequences {args.max_sequences}: expected >= 0 (0 = all)")
    check_output_file("--out", args.out)
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
    )
    print(_dumps(report) if args.json else format_report(report))
    return 0


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    return dict(split_name_value(item, what) for item in items or [])


def cmd_sweep(args: argparse.Namespace) -> int:
    from seqcvae.recipes.sweep import sweep

    tolerance: dict[str, float] = {}
    for name, value in _pairs(args.tolerance, "--tolerance").items():
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
        }.items()
        if v is not None
    }
    overrides = {
        "targets": _pairs(args.target, "--target"),
        "fixed": dict(parse_condition(item, "--fixed") for item in args.fixed or []),
        "tolerance": tolerance,
        "sample": sample,
        "n": args.n,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "images": args.images,
        "sdf": True if args.sdf else None,
    }
    overall = sweep(
        args.checkpoint,
        args.out,
        args.spec,
        overrides,
        which=args.which,
        device=args.device,
        workers=args.workers,
        plots=not args.no_plots,
        log=_eprint if args.json else print,  # --json: stdout holds only the JSON
        warn=lambda w: _eprint(f"warning: {w}"),
    )
    if overall:
        print(_dumps(overall) if args.json else _sweep_summary(overall, args.out))
    return 0


def _sweep_summary(overall: dict[str, Any], out: str) -> str:
    lines = [f"sweep: {overall['finished']}/{overall['targets']} targets x {overall['n_per_target']} samples"]
    if "validity" in overall:
        lines.append(f"  validity {overall['validity']:.3f}")
    for name, v in overall.items():
        if isinstance(v, dict) and "spearman" in v:
            lines.append(
                f"  {name}: Spearman {_fmt(v['spearman'])}, MAE {_fmt(v['mae'])}, hit rate "
                f"{_fmt(v['hit_rate'])} (within {v['tolerance']:.3g})"
            )
    if isinstance(overall.get("plots"), str):
        lines.append(f"  {overall['plots']}")
    lines.append(f"wrote {out}/summary.csv, samples.csv, overall.json")
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    from seqcvae.recipes.info import checkpoint_info

    print(_dumps(checkpoint_info(args.checkpoint, which=args.which)))
    return 0


def _add_device_option(parser: argparse.ArgumentParser) -> None:
    """--device for the commands that load a trained model (generation is on the CPU by default)."""
    parser.add_argument(
        "--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:N or auto"
    )


SAMPLE_DEFAULTS = (
    "Sampling options that are not given take the checkpoint's [sample] settings (the run's "
    "config.json; `seqcvae info` shows them)."
)


def _add_sampling_options(parser: argparse.ArgumentParser, source: str = "the checkpoint's sample") -> None:
    """--seed, --batch-size, --temperature, --top-k, --top-p; not given (None): the checkpoint's value."""
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


def build_parser() -> argparse.ArgumentParser:
    from seqcvae.config import BUILTIN_CONFIGS

    p = argparse.ArgumentParser(
        prog="seqcvae",
        description="Sequence conditional VAE: train, then generate SMILES near target properties or "
        "text in a given style.",
    )
    sub = p.add_subparsers(dest="command", required=True)

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
        "--overwrite",
        action="store_true",
        help="replace an existing run (a directory with config.json and checkpoints/); refuses any other",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument(
        "--device",
        help="train on cpu, cuda or auto (the GPU when there is one); same as train.device=...",
    )
    t.set_defaults(func=cmd_train)

    g = sub.add_parser(
        "generate", help="sample sequences under conditions and check them", description=SAMPLE_DEFAULTS
    )
    g.add_argument("--checkpoint", required=True, help="run directory or checkpoint directory")
    g.add_argument("--which", default="best", choices=["best", "last"])
    g.add_argument(
        "--condition",
        "-c",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="target, repeatable: -c LogP=2.5 -c MolWt=300; unnamed ones are free",
    )
    g.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    g.add_argument("--out", help="CSV file, one row per sample")
    g.add_argument("--greedy", action="store_true", help="argmax decoding")
    g.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (most likely sequence)")
    g.add_argument(
        "--length-penalty",
        type=float,
        metavar="A",
        help="beam search ranks finished sequences by log p / length**A (default 1: per token; 0: log p)",
    )
    _add_sampling_options(g)
    g.add_argument(
        "--reference",
        help="molecules for novelty: a SMILES file (.smi/.txt) or a table with a SMILES column "
        "(.csv/.tsv/.jsonl, optionally .gz), canonicalised with RDKit (default: the run's training set)",
    )
    g.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_device_option(g)
    g.set_defaults(func=cmd_generate)

    tr = sub.add_parser(
        "transfer",
        help="re-decode given sequences under other conditions (style transfer)",
        description=SAMPLE_DEFAULTS,
    )
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument("--which", default="best", choices=["best", "last"])
    tr.add_argument("--text", action="append", help="input sequence, a sentence or SMILES (repeatable)")
    tr.add_argument(
        "--input",
        help="file of inputs: .txt/.smi (one per line) or a .csv/.tsv/.jsonl table, read from --column",
    )
    tr.add_argument(
        "--column",
        help="column of the --input table (default: the run's sequence column, e.g. SMILES or text, or "
        "the only column)",
    )
    tr.add_argument(
        "--condition",
        "-c",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="target tag(s), e.g. -c sentiment=pos",
    )
    tr.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the inputs' own tag(s), if known, e.g. --source sentiment=neg",
    )
    tr.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    tr.add_argument("--seed", type=int, help="seed for --sample (default: the checkpoint's sample.seed)")
    tr.add_argument("--out", help="CSV file: each input (source) beside its output")
    _add_device_option(tr)
    tr.set_defaults(func=cmd_transfer)

    ev = sub.add_parser(
        "evaluate",
        help="diagnostics and sample metrics of a run, or MOSES metrics of a SMILES file",
    )
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="run directory or checkpoint to evaluate")
    what.add_argument("--smiles", help="a SMILES file to score with the MOSES metrics (no model needed)")
    ev.add_argument("--which", default="best", choices=["best", "last"])
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
    ev.add_argument("--max-sequences", type=int, default=2000, help="held-out sequences (0 = all)")
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
    ev.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="worker processes")
    ev.add_argument("--no-fcd", action="store_true", help="skip the Frechet ChemNet Distance")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--out", help="write the report as JSON here")
    _add_device_option(ev)
    ev.set_defaults(func=cmd_evaluate)

    sw = sub.add_parser(
        "sweep",
        help="generate over a grid of targets; summaries, plots and molecule images in a directory",
        description="Options override the --spec file. " + SAMPLE_DEFAULTS.replace("not given", "in neither"),
    )
    sw.add_argument("--checkpoint", required=True)
    sw.add_argument("--which", default="best", choices=["best", "last"])
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
    sw.add_argument("--greedy", action="store_true", help="argmax decoding")
    _add_sampling_options(sw, "the --spec file, else the checkpoint's sample")
    sw.add_argument("--workers", type=int, default=1, help="RDKit worker processes")
    sw.add_argument("--no-plots", action="store_true")
    sw.add_argument("--json", action="store_true")
    _add_device_option(sw)
    sw.set_defaults(func=cmd_sweep)

    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("--checkpoint", required=True)
    i.add_argument("--which", default="best", choices=["best", "last"])
    i.set_defaults(func=cmd_info)
    return p


def _one_line_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """seqcvae's own warnings as one line, like its errors; others as `show` shows them."""

    def shown(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, SeqCVAEWarning):
            _eprint(f"warning: {message}")
        else:
            show(message, category, *args, **kwargs)

    return shown


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may sit on either side of options (`train A=1 --out X B=2`): argparse
    # takes only the first group as the positional list; the rest arrive here.
    stray = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return int(args.func(args))
    except SeqCVAEError as exc:
        _eprint(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _eprint("interrupted")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
