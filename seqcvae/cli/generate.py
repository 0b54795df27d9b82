"""`seqcvae generate`: sample sequences under conditions, write them and summarise them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import ConfigError, DataError, SeqCVAEError

if TYPE_CHECKING:
    from seqcvae.generation.hits import HitSearch


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
        help="target, repeatable: -c LogP=2.5 -c MolWt=300, or a range -c MolWt=250:350 (conditioned "
        "at its midpoint); unnamed ones are free; a list -c sentiment=pos,neg or -c LogP=1,2,3 is one "
        "request per value (--n each; several lists: their product), as rows of --requests",
    )
    g.add_argument(
        "--requests",
        metavar="FILE",
        help="one target per row: a .csv/.tsv with a header of condition names and an optional n "
        "column (the row's samples, with --hits its hits; an empty cell: free), or .toml with "
        "[[request]] tables; -c values apply to every row that does not set them; each row's samples "
        "carry its target_index",
    )
    g.add_argument(
        "--n", type=int, help="number of samples (default 1000); with --requests, per row without an n"
    )
    g.add_argument(
        "--out",
        help="sample file, one row per sample kept; the extension picks the format: .csv, .tsv, "
        ".parquet, .sdf or .smi (the last two: valid molecules only)",
    )
    g.add_argument(
        "--hits",
        type=int,
        metavar="N",
        help="draw batches until N molecules are verified: RDKit measures each target within its "
        "--tolerance (or inside its range) and they pass the filters below",
    )
    g.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="NAME=TOL",
        help="with --hits: a hit lands within TOL of the target, repeatable: --tolerance LogP=0.1 "
        "(default: 5%% of the property's training range)",
    )
    g.add_argument(
        "--max-samples",
        type=int,
        metavar="M",
        help="with --hits: give up after M samples (exit status 2; the hits found are still written "
        "to --out; default: 200 x N)",
    )
    g.add_argument("--valid-only", action="store_true", help="keep valid molecules only")
    g.add_argument("--unique", action="store_true", help="keep the first of each distinct molecule (or text)")
    g.add_argument(
        "--novel", action="store_true", help="keep molecules outside the reference set (see --reference)"
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
    g.add_argument(
        "--workers",
        type=int,
        default=common.default_workers(),
        metavar="W",
        help="processes checking molecules with RDKit while the next batch is sampled; 0: in this "
        f"process after each batch (default {common.default_workers()})",
    )
    g.add_argument("--json", action="store_true", help="print the summary as JSON")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (on stderr, when a terminal)")
    common.add_device_option(g)
    return g


def check_hits_options(args: argparse.Namespace) -> None:
    """--hits replaces --n; --tolerance and --max-samples only mean something with it."""
    if args.hits is None:
        for flag, given in (("--tolerance", args.tolerance), ("--max-samples", args.max_samples)):
            if given:
                raise ConfigError(f"{flag} applies to verified hits: add --hits N")
        return
    if args.hits < 1:
        raise ConfigError(f"--hits {args.hits}: expected a positive number of molecules")
    if args.n is not None:
        raise ConfigError(f"--n {args.n} and --hits {args.hits}: give one (--hits draws until it has N)")
    if args.max_samples is not None and args.max_samples < 1:
        raise ConfigError(f"--max-samples {args.max_samples}: expected a positive number of samples")


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
            ("--grammar", args.grammar or None),
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
    check_hits_options(args)
    given = common.conditions(args.condition)
    tolerance = common.numbers(args.tolerance, "--tolerance")
    n = 1000 if args.n is None else args.n
    if n < 1:
        raise SeqCVAEError(f"--n {n}: expected a positive number of samples")
    if args.batch_size is not None and args.batch_size < 1:
        raise SeqCVAEError(f"--batch-size {args.batch_size}: expected a positive number")
    if args.workers < 0:
        raise SeqCVAEError(f"--workers {args.workers}: expected 0 or more processes")
    common.check_sample_file("--out", args.out)
    if args.reference and not Path(args.reference).is_file():
        raise DataError(f"--reference {args.reference!r} does not exist or is not a file")
    if args.requests and not Path(args.requests).is_file():
        raise DataError(f"--requests {args.requests!r} does not exist or is not a file")
    result = generate(
        args.checkpoint,
        given,
        n=n,
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
        latent_temperature=args.latent_temperature,
        grammar=args.grammar,
        length_penalty=args.length_penalty,
        out=args.out,
        reference=args.reference,
        workers=args.workers,
        hits=args.hits,
        tolerance=tolerance,
        max_samples=args.max_samples,
        valid_only=args.valid_only,
        unique=args.unique,
        novel=args.novel,
        requests=args.requests,
        progress=not args.no_progress,
        warn=common.warn,
    )
    search = result.search
    if search is not None and not search.complete:
        if args.requests:
            return _incomplete_requests(result.searches, search, args.hits, args.out)
        return _incomplete(search, args.out)
    records, summary, seconds = result.records, result.summary, result.seconds
    if "requests" in summary and not args.json:
        _print_requests(summary["requests"])
    if args.json:
        print(common.dumps(summary))
    elif result.kind == "text":
        drawn = int(summary["generated"])
        accuracy = "".join(f", {part}" for part in _accuracy_parts(summary))
        print(
            f"generated {drawn} in {seconds:.1f} s ({drawn / max(seconds, 1e-9):.0f}/s); uniqueness "
            f"{common.fmt(summary['uniqueness'])}, distinct-1 {common.fmt(summary['distinct_1'])}, "
            f"distinct-2 {common.fmt(summary['distinct_2'])}{accuracy}"
        )
        _print_selection(summary)
        if not args.out and "requests" not in summary:
            for r in records[: min(len(records), 10)]:
                print(f"  {r.sequence}")
    else:
        common.print_summary(summary, seconds)
        _print_selection(summary)
    if args.out and not args.json:
        common.print_wrote(args.out, len(records))
    return 0


def _print_selection(summary: dict[str, Any]) -> None:
    hits, kept = summary.get("hits"), summary.get("kept")
    if hits:
        print(
            f"hits       {hits['hits']} of {hits['samples']} samples: acceptance {hits['acceptance']:.4f}, "
            f"{hits['hits_per_s']:.1f} verified hits/s ({', '.join(hits['selection'])})"
        )
    elif kept:
        print(f"kept       {kept['records']} of {kept['of']} ({', '.join(kept['selection'])})")


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _print_requests(requests: list[dict[str, Any]]) -> None:
    """One line per request: its targets, samples (hits, kept), and how close they landed."""
    fmt = common.fmt
    for r in requests:
        ranges = r.get("ranges", {})
        where = " ".join(
            f"{k}={_value(ranges[k][0])}:{_value(ranges[k][1])}" if k in ranges else f"{k}={_value(v)}"
            for k, v in r["targets"].items()
        )
        parts = []
        if "hits" in r:
            h = r["hits"]
            parts.append(f"{h['hits']} hits of {h['samples']} samples (acceptance {h['acceptance']:.4f})")
        elif "kept" in r:
            parts.append(f"kept {r['kept']} of {r['n']}")
        else:
            parts.append(f"n {r['n']}")
        if "validity" in r:
            parts.append(f"validity {fmt(r['validity'])}")
        else:
            parts.append(f"uniqueness {fmt(r['uniqueness'])}")
            parts.append(f"distinct-1 {fmt(r['distinct_1'])}, distinct-2 {fmt(r['distinct_2'])}")
            parts += _accuracy_parts(r)
        for name in r.get("tolerance", {}):
            parts.append(f"{name} MAE {fmt(r[f'{name}_mae'])} (hit {fmt(r[f'{name}_hit_rate'])})")
        print(f"request {r['target_index']} {where or '(all free)'}: {', '.join(parts)}")
        for example in r.get("examples", []):
            print(f"  {example}")


def _accuracy_parts(summary: dict[str, Any]) -> list[str]:
    """ "sentiment accuracy 0.91" per tag the style classifier judged."""
    return [f"{tag} accuracy {common.fmt(a)}" for tag, a in summary.get("style_accuracy", {}).items()]


def _incomplete_requests(searches: list[HitSearch], overall: HitSearch, wanted: int, out: str | None) -> int:
    """The one line of a request file's searches that stopped short: which requests, where the hits are."""
    wrote = f"; wrote the {len(overall.hits)} hits to {out}" if out else ""
    if overall.interrupted:
        common.eprint(
            f"interrupted at request {len(searches) - 1}: {len(overall.hits)} hits in "
            f"{len(overall.drawn)} samples drawn{wrote}"
        )
        return 130
    short = [(k, s) for k, s in enumerate(searches) if not s.complete]
    shown = "; ".join(
        f"target_index {k}: {len(s.hits)} of {s.wanted} hits in {len(s.drawn)} samples" for k, s in short[:5]
    )
    more = f"; and {len(short) - 5} more" if len(short) > 5 else ""
    raise SeqCVAEError(
        f"--hits {wanted}: the --max-samples budget ran out for {len(short)} of {len(searches)} requests "
        f"({shown}{more}){wrote}; raise --max-samples or widen the tolerances"
    )


def _incomplete(search: HitSearch, out: str | None) -> int:
    """The one line of a search that stopped short: what it reached, where the hits are."""
    reached = (
        f"{len(search.hits)} of {search.wanted} hits in {len(search.drawn)} samples drawn "
        f"(acceptance {search.acceptance:.4f})"
    )
    wrote = f"; wrote the {len(search.hits)} hits to {out}" if out else ""
    if search.interrupted:
        common.eprint(f"interrupted: {reached}{wrote}")
        return 130
    raise SeqCVAEError(
        f"--hits {search.wanted}: the --max-samples budget of {search.max_samples} samples ran out at "
        f"{reached}{wrote}; raise --max-samples or widen the tolerances"
    )
