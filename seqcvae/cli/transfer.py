"""`seqcvae transfer`: re-decode given sequences under other conditions (style transfer)."""

from __future__ import annotations

import argparse

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers
from seqcvae.errors import SeqCVAEError
from seqcvae.generation.transfer_settings import (
    DEFAULT_KEEP_MODE,
    DEFAULT_LADDERS,
    DEFAULT_MARGIN,
    KEEP_MODES,
    STYLE_MARK,
    format_ladder,
)


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    tr = sub.add_parser(
        "transfer",
        help="re-decode given sequences under other conditions (style transfer)",
        description=common.SAMPLE_DEFAULTS,
    )
    tr.add_argument("--checkpoint", required=True, help=common.CHECKPOINT_HELP)
    common.add_which_option(tr)
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
        metavar="NAME=VALUE[,VALUE...]",
        help="target tag(s), e.g. -c sentiment=pos; several values (-c sentiment=pos,neg) transfer "
        "every input to each",
    )
    tr.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the inputs' own tag(s), if known, e.g. --source sentiment=neg (an --input table's "
        "column named like a tag field gives each row its own)",
    )
    how = tr.add_mutually_exclusive_group()
    how.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    how.add_argument(
        "--beam", type=int, metavar="N", help="beam search over N hypotheses instead of greedy decoding"
    )
    tr.add_argument(
        "--guidance",
        type=common.guidance_weight,
        metavar="W",
        help="classifier-free guidance over the target: each step decodes from uncond + W * (cond - "
        "uncond); above 1 follows the target harder (default: the checkpoint's sample.guidance)",
    )
    tr.add_argument(
        "--keep",
        type=common.keep_bonus,
        default=0.0,
        metavar="B",
        help="add B at each step to the logit of the input's next token (see --keep-mode), so the "
        "output keeps the input's words: more content kept, less style changed "
        "(0 = off; see BENCHMARKS.md for Yelp)",
    )
    tr.add_argument(
        "--keep-mode",
        type=common.keep_mode,
        default=DEFAULT_KEEP_MODE,
        metavar="{" + ",".join(KEEP_MODES) + "}",
        help="how --keep (and each --search rung's keep) reads the input: style (default) puts the "
        "bonus on the input's next word and, less, the two after it, so the output copies the "
        f"input in order, but gives none to the words the model finds carry the source style (more "
        f"than {STYLE_MARK:g} nats likelier under the source than the target), so those are the ones "
        "rewritten; order does the same for every word; bag puts it on every input token not yet "
        "written",
    )
    tr.add_argument(
        "--search",
        nargs="?",
        const="",
        metavar="W/B,...",
        help="decode each input at a ladder of (guidance W, keep B) settings in turn, from the one "
        "that keeps most of it, and keep the first output the model itself places in the target by "
        "--margin nats over the source tags; without a value the default ladder of --keep-mode: "
        + "; ".join(f"{format_ladder(ladder)} ({mode})" for mode, ladder in DEFAULT_LADDERS.items())
        + "; replaces --guidance and --keep",
    )
    tr.add_argument(
        "--margin",
        type=float,
        metavar="NATS",
        help="--search: log p(output | z, target) - log p(output | z, source) an output needs "
        f"(default {DEFAULT_MARGIN:g}; higher: more outputs in the target style, fewer of the input's "
        "words; the scale is the model's own, see the README)",
    )
    tr.add_argument("--seed", type=int, help="seed for --sample (default: the checkpoint's sample.seed)")
    tr.add_argument(
        "--out",
        help="sample file (.csv, .tsv or .parquet; .sdf, .smi for SMILES runs): each input "
        "(source) beside its output",
    )
    common.add_device_option(tr)
    return tr


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.transfer import transfer

    targets = target_requests(args.condition)
    if not targets:
        raise SeqCVAEError("give the target with --condition NAME=VALUE, e.g. -c sentiment=pos")
    if args.beam is not None and args.beam < 1:
        raise SeqCVAEError(f"--beam {args.beam}: expected a number of hypotheses >= 1")
    search = search_ladder(args)
    source = common.conditions(args.source)
    common.check_sample_file("--out", args.out)
    result = transfer(
        args.checkpoint,
        targets,
        source,
        texts=args.text,
        input_path=args.input,
        column=args.column,
        which=args.which,
        device=args.device,
        seed=args.seed,
        sample=args.sample,
        beam=args.beam or 0,
        guidance=args.guidance,
        keep=args.keep,
        keep_mode=args.keep_mode,
        search=search,
        margin=args.margin,
        out=args.out,
    )
    if args.out:
        common.print_wrote(args.out, len(result.records))
    else:
        for src, r in zip(result.sources, result.records):
            target = ", ".join(f"{k}={v}" for k, v in r.targets.items())
            known = ", ".join(f"{k[7:]}={v}" for k, v in r.extra.items() if k.startswith("source_"))
            verdict = ", ".join(f"{k[6:]}={v}" for k, v in r.extra.items() if k.startswith("style_"))
            print(f"{src}" + (f"  [{known}]" if known else ""))
            print(f"  -> [{target}] {r.sequence}" + (f"  (classifier: {verdict})" if verdict else ""))
    for label, share in result.accuracy.items():
        print(f"style accuracy {label}: {share:.3f} (the run's style classifier)")
    return 0


def target_requests(items: list[str]) -> list[dict[str, float | str]]:
    """-c NAME=V1,V2 (repeatable): every combination of the values, in the order given."""
    import itertools

    from seqcvae.data.conditions import parse_condition, split_name_value

    values: dict[str, list[float | str]] = {}
    for item in items:
        name, raw = split_name_value(item)
        for v in raw.split(","):
            values.setdefault(name, []).append(parse_condition(f"{name}={v.strip()}")[1])
    names = list(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*(values[n] for n in names))]


def search_ladder(args: argparse.Namespace) -> tuple[tuple[float, float], ...] | None:
    """The --search rungs (None without --search), after checking the options that go with it."""
    from seqcvae.generation.transfer_settings import check_margin, parse_ladder

    if args.search is None:
        if args.margin is not None:
            raise SeqCVAEError(f"--margin {args.margin:g} applies to --search: add --search")
        return None
    for flag, given in (("--guidance", args.guidance is not None), ("--keep", args.keep != 0)):
        if given:
            raise SeqCVAEError(f"--search sets guidance and keep per rung (GUIDANCE/KEEP); drop {flag}")
    if args.margin is not None:
        check_margin(args.margin)
    return parse_ladder(args.search) if args.search else DEFAULT_LADDERS[args.keep_mode]
