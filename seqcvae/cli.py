"""Command-line interface: `seqcvae train | generate | info`.

The only module that reads argv or config files. User errors (SeqCVAEError) are printed as one
line without a traceback, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqcvae.errors import ConditionError, ConfigError, SeqCVAEError
from seqcvae.formatting import json_safe


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_condition(item: str) -> tuple[str, Any]:
    """`LogP=2.5` -> ("LogP", 2.5); `sentiment=pos` -> ("sentiment", "pos")."""
    if "=" not in item:
        raise ConditionError(f"condition {item!r} is not of the form NAME=VALUE (e.g. LogP=2.5)")
    name, value = (s.strip() for s in item.split("=", 1))
    if not name or not value:
        raise ConditionError(f"condition {item!r} is not of the form NAME=VALUE (e.g. LogP=2.5)")
    try:
        return name, float(value)
    except ValueError:
        return name, value


RESUME_KEYS = ("train.epochs", "train.max_steps", "train.max_minutes", "train.device")


def cmd_train(args: argparse.Namespace) -> int:
    from seqcvae.config import load_config
    from seqcvae.training.distributed import env_info
    from seqcvae.training.trainer import train

    if args.device:
        args.overrides = [*args.overrides, f"train.device={args.device}"]

    if args.resume:
        if args.config:
            raise SeqCVAEError("--resume continues a run with its saved config; drop --config")
        bad = [o for o in args.overrides if o.split("=", 1)[0].strip() not in RESUME_KEYS]
        if bad:
            raise SeqCVAEError(
                f"with --resume only the budget can change ({', '.join(RESUME_KEYS)}); not {bad[0]!r}"
            )
        train(
            config_for_resume(args.resume).with_overrides(args.overrides),
            Path(args.resume),
            resume=True,
            progress=not args.no_progress,
        )
        return 0
    cfg = load_config(args.config, args.overrides)
    run_dir = Path(args.out or cfg.output_dir)
    if (run_dir / "checkpoints").exists() and not args.overwrite:
        raise SeqCVAEError(
            f"run directory {str(run_dir)!r} already has checkpoints; use "
            f"--resume {run_dir} to continue, --out for a new directory, or "
            "--overwrite to replace it"
        )
    if args.overwrite and run_dir.exists() and env_info().is_main:  # one torchrun process removes it
        import shutil

        shutil.rmtree(run_dir)
    train(cfg, run_dir, progress=not args.no_progress)
    return 0


def config_for_resume(run_dir: str) -> Any:
    from seqcvae.config import RunConfig
    from seqcvae.training.checkpoint import load_checkpoint

    return RunConfig.from_dict(load_checkpoint(run_dir, which="last").config)


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
        print(f"{'property':<14}{'target':>9}{'measured':>10}{'std':>8}{'MAE':>8}{'Spearman':>10}")
        for name, p in props.items():
            print(
                f"{name:<14}{p['target_mean']:>9.3f}{p['measured_mean']:>10.3f}"
                f"{p['measured_std']:>8.3f}{p['mae']:>8.3f}{_fmt(p['spearman']):>10}"
            )


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
    import time

    from seqcvae.generation.generator import Generator, write_records_csv

    _check_beam_options(args)
    gen = Generator.load(args.checkpoint, which=args.which, device=args.device)
    if args.length_penalty is not None and not args.beam and gen.config.sample.strategy != "beam":
        raise ConfigError(
            f"--length-penalty {args.length_penalty:g} only ranks beam search hypotheses; add --beam K"
        )
    request = dict(parse_condition(c) for c in args.condition)
    if args.n < 1:
        raise SeqCVAEError(f"--n {args.n}: expected a positive number of samples")
    gen.conditions.encode_request(request, 1)  # unknown names fail before any work
    for warning in gen.conditions.out_of_range(request):
        _eprint(f"warning: {warning}")
    t0 = time.perf_counter()
    records = gen.generate(
        request,
        n=args.n,
        seed=args.seed,
        batch_size=args.batch_size,
        strategy="beam" if args.beam else "greedy" if args.greedy else None,
        beam_size=args.beam,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        length_penalty=args.length_penalty,
    )
    seconds = time.perf_counter() - t0
    if args.out:
        write_records_csv(records, args.out, gen.measured_properties(), gen.kind)
    summary = gen.summarise(records, gen.reference_set(args.reference) if args.reference else None)
    if args.json:
        print(_dumps(summary))
    elif gen.kind == "text":
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


def _read_inputs(args: argparse.Namespace) -> list[str]:
    texts = list(args.text or [])
    if args.input:
        from seqcvae.data.tables import read_table

        _, rows = read_table(args.input, "text")
        texts += [r["text"] for r in rows if r.get("text", "").strip()]
    if not texts:
        raise SeqCVAEError("give sentences to transfer with --text '...' (repeatable) or --input FILE")
    return texts


def cmd_transfer(args: argparse.Namespace) -> int:
    from seqcvae.generation.generator import Generator, write_records_csv

    gen = Generator.load(args.checkpoint, which=args.which, device=args.device)
    target = dict(parse_condition(c) for c in args.condition)
    if not target:
        raise SeqCVAEError("give the target style with --condition NAME=VALUE, e.g. -c sentiment=pos")
    source = dict(parse_condition(c) for c in args.source)
    texts = _read_inputs(args)
    records = gen.transfer(
        texts, target, source or None, seed=args.seed, strategy="sample" if args.sample else "greedy"
    )
    if args.out:
        write_records_csv(records, args.out, gen.measured_properties(), gen.kind)
        print(f"wrote {len(records)} rows to {args.out}")
    else:
        for src, r in zip(texts, records):
            print(f"{src}\n  -> {r.sequence}")
    return 0


def _dumps(obj: Any) -> str:
    return json.dumps(json_safe(obj), indent=2, allow_nan=False)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from seqcvae.evaluation.report import (
        evaluate_run,
        evaluate_smiles_file,
        format_report,
        parse_references,
    )

    for flag, value, lowest in (("--workers", args.workers, 1), ("--k", args.k, 1), ("--n", args.n, 0)):
        if value < lowest:
            raise ConfigError(f"{flag} {value}: expected a whole number >= {lowest}")
    if args.max_sequences < 0:
        raise ConfigError(f"--max-sequences {args.max_sequences}: expected >= 0 (0 = all)")
    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise ConfigError(f"--out {args.out!r}: folder {str(Path(args.out).parent)!r} does not exist")
    references = parse_references(args.reference)
    fcd = not args.no_fcd
    if args.smiles:
        report = evaluate_smiles_file(
            args.smiles, references, train=args.train, workers=args.workers, fcd=fcd, column=args.column
        )
    else:
        report = evaluate_run(
            args.checkpoint,
            which=args.which,
            data=args.data,
            k=args.k,
            n_samples=args.n,
            max_sequences=args.max_sequences,
            seed=args.seed,
            references=references,
            workers=args.workers,
            fcd=fcd,
            device=args.device,
        )
    if args.out:
        Path(args.out).write_text(_dumps(report), encoding="utf-8")
    print(_dumps(report) if args.json else format_report(report))
    return 0


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{what} {item!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def cmd_sweep(args: argparse.Namespace) -> int:
    from seqcvae.generation.generator import Generator
    from seqcvae.sweep import load_spec, run_sweep
    from seqcvae.sweep.spec import _number_or_tag

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
        "fixed": {k: _number_or_tag(v) for k, v in _pairs(args.fixed, "--fixed").items()},
        "tolerance": tolerance,
        "sample": sample,
        "n": args.n,
        "seed": args.seed,
        "images": args.images,
        "sdf": True if args.sdf else None,
    }
    spec = load_spec(args.spec, overrides)
    gen = Generator.load(args.checkpoint, which=args.which, device=args.device)
    for request in (spec.grid()[0], spec.grid()[-1]):
        for warning in gen.conditions.out_of_range(request):
            _eprint(f"warning: {warning}")
    log = _eprint if args.json else print  # --json: stdout holds only the JSON
    overall = run_sweep(gen, spec, args.out, workers=args.workers, plots=not args.no_plots, log=log)
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
    from seqcvae.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint, which=args.which)
    info = {
        "checkpoint": str(ckpt.path),
        "step": ckpt.meta.get("step"),
        "metrics": ckpt.meta.get("metrics"),
        "model": ckpt.meta.get("model_shape"),
        "conditions": ckpt.conditions,
    }
    print(_dumps(info))
    return 0


def _add_device_option(parser: argparse.ArgumentParser) -> None:
    """--device for the commands that load a trained model (generation is on the CPU by default)."""
    parser.add_argument(
        "--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:N or auto"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seqcvae",
        description="Sequence conditional VAE: train, then generate SMILES near target properties.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model (or --resume a run)")
    t.add_argument(
        "--config",
        help="TOML file or built-in name (smiles_default, smiles_tiny); default smiles_default",
    )
    t.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. train.max_minutes=2 model.latent_dim=32",
    )
    t.add_argument("--out", help="run directory (default: the config's output_dir)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from checkpoints/last")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument(
        "--device",
        help="train on cpu, cuda or auto (the GPU when there is one); same as train.device=...",
    )
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("generate", help="sample sequences under conditions and check them")
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
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--batch-size", type=int, default=1000)
    g.add_argument("--greedy", action="store_true", help="argmax decoding")
    g.add_argument("--beam", type=int, metavar="K", help="beam search with K beams (most likely sequence)")
    g.add_argument(
        "--length-penalty",
        type=float,
        metavar="A",
        help="beam search ranks finished sequences by log p / length**A (default 1: per token; 0: log p)",
    )
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--reference", help="SMILES file for novelty (default: the run's training set)")
    g.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_device_option(g)
    g.set_defaults(func=cmd_generate)

    tr = sub.add_parser("transfer", help="re-decode given sequences under other conditions (style transfer)")
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument("--which", default="best", choices=["best", "last"])
    tr.add_argument("--text", action="append", help="input sentence (repeatable)")
    tr.add_argument("--input", help="file of inputs: .txt (one per line) or a table with a 'text' column")
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
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", help="CSV file of the outputs")
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
    ev.add_argument("--n", type=int, default=1000, help="samples for the sample metrics (MOSES uses 10000)")
    ev.add_argument("--max-sequences", type=int, default=2000, help="held-out sequences (0 = all)")
    ev.add_argument(
        "--reference",
        action="append",
        metavar="[NAME=]FILE",
        help="reference SMILES for SNN/Frag/Scaf/FCD, repeatable (first: 'Test'); default for a run: "
        "its held-out molecules. Statistics are cached under ~/.cache/seqcvae",
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
        "sweep", help="generate over a grid of targets; summaries, plots and molecule images in a directory"
    )
    sw.add_argument("--checkpoint", required=True)
    sw.add_argument("--which", default="best", choices=["best", "last"])
    sw.add_argument("--spec", help="TOML sweep spec (targets, fixed, tolerance, sample, n, seed)")
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
    sw.add_argument("--seed", type=int)
    sw.add_argument("--images", type=int, help="example molecules drawn per target (default 12, 0 = none)")
    sw.add_argument("--sdf", action="store_true", help="also write valid molecules to molecules.sdf")
    sw.add_argument("--greedy", action="store_true")
    sw.add_argument("--temperature", type=float)
    sw.add_argument("--top-k", type=int)
    sw.add_argument("--top-p", type=float)
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
