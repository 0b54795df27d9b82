#!/usr/bin/env python
"""Style transfer of a text run on a test set with human rewrites (issue 16), over decoding settings.

The test file (default: the standard Yelp test, ../shared/data/text/yelp/test.ref.tsv, 1,000
sentences: 500 neg -> pos, 500 pos -> neg) has four tab-separated columns, no header: source tag,
source sentence, target tag, human rewrite. The tag field is the run's first tag (--field).

For each decoding setting (--guidance values x --strategies x --keep, and --search at each of
--margins): every sentence is encoded under its
source tag (posterior mean) and decoded under the target tag; reported are the transfer accuracy
by the style classifier trained on the run's training file (seqcvae.evaluation.style), BLEU to the
input (sacrebleu, as `seqcvae evaluate`), BLEU to the human rewrites (tokenised like the corpus), the fraction
returned unchanged, and the geometric mean of accuracy (x100) and BLEU to the input. Also:
- reconstruction: the same sentences decoded under their own tag (how much content z carries);
- the classifier's accuracy on the source sentences (its ceiling);
- a style probe: 5-fold accuracy of a logistic regression reading the source tag off the
  posterior means (0.5 = z holds no sentiment; what a tag adversary aims at).

    python scripts/bench_transfer.py runs/yelp/adv --guidance 1,2,3 --strategies greedy,beam

Prints a table and writes RUN/bench_transfer.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.errors import SeqCVAEError  # noqa: E402
from seqcvae.evaluation.report import transfer_rows  # noqa: E402
from seqcvae.evaluation.style import train_style_classifier  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.generation.transfer_settings import (  # noqa: E402
    DEFAULT_KEEP_MODE,
    DEFAULT_LADDERS,
    KEEP_MODES,
    parse_ladder,
)

DEFAULT_TEST = ROOT.parent / "shared" / "data" / "text" / "yelp" / "test.ref.tsv"


def corpus_tokens(text: str) -> str:
    """A human rewrite tokenised as the Yelp corpus is (lower case, `it 's`, `did n't`, ` .`), so
    BLEU to the rewrites compares like with like (approximately: a few regular expressions)."""
    text = text.lower()
    text = re.sub(r"n't\b", " n't", text)
    text = re.sub(r"'(s|re|ve|m|ll|d)\b", r" '\1", text)
    text = re.sub(r"([.,!?;:()\"])", r" \1 ", text)
    return " ".join(text.split())


def read_test(path: Path, n: int) -> list[tuple[str, str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            raise SeqCVAEError(f"{path}: expected 4 tab-separated columns, got {len(parts)} in {line[:60]!r}")
        rows.append((parts[0], parts[1], parts[2], parts[3]))
    if n and n < len(rows):  # evenly spaced, so both directions stay in
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, n).round().astype(int)]
    return rows


def main() -> int:
    import sacrebleu
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--test", default=str(DEFAULT_TEST))
    ap.add_argument("--field", help="the tag field (default: the run's first)")
    ap.add_argument("--guidance", default="1,2,3", help="comma-separated classifier-free guidance weights")
    ap.add_argument("--strategies", default="greedy", help="comma-separated: greedy, beam")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument(
        "--keep", default="0", help="comma-separated bonuses on the input's own tokens (transfer keep=)"
    )
    ap.add_argument(
        "--search",
        help="also transfer --search with these rungs (W/B,...; 'default' for the default ladder), "
        "once per --margins value and --strategies entry",
    )
    ap.add_argument(
        "--keep-mode",
        choices=KEEP_MODES,
        default=DEFAULT_KEEP_MODE,
        help="how the keep bonus (of --keep and each --search rung) reads the input (transfer --keep-mode)",
    )
    ap.add_argument("--margins", default="4", help="comma-separated --search margins (nats)")
    ap.add_argument("--no-reconstruction", action="store_true", help="skip reconstruction and the probe")
    ap.add_argument("--n", type=int, default=0, help="N evenly spaced test rows (0 = all)")
    args = ap.parse_args()
    test = Path(args.test)
    if not test.is_file():
        print(f"skipped: {test} not found")
        return 0
    gen = Generator.load(args.run)
    field = args.field or gen.conditions.categorical[0].name
    rows = read_test(test, args.n)
    own, src = [r[0] for r in rows], [r[1] for r in rows]
    refs = [corpus_tokens(r[3]) for r in rows]
    targets = [r[2] for r in rows]
    clf = train_style_classifier(gen, [field])
    result: dict[str, Any] = {
        "run": args.run,
        "test": str(test),
        "sentences": len(rows),
        "classifier_accuracy_on_sources": clf.accuracy(src, {field: own})[field],
    }
    result["reconstruction"] = {"bleu_to_input": float("nan"), "exact": float("nan")}
    result["style_probe_on_z"] = float("nan")
    if not args.no_reconstruction:
        t0 = time.perf_counter()
        recon = transfer_rows(gen, field, src, own, own)
        result["reconstruction"] = {
            "bleu_to_input": sacrebleu.corpus_bleu(recon, [src], force=True).score,
            "exact": float(np.mean([a == b for a, b in zip(recon, src)])),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        mu = gen.encode(src, [{field: t} for t in own]).numpy()
        result["style_probe_on_z"] = float(
            cross_val_score(LogisticRegression(max_iter=2000), mu, np.array(own), cv=5).mean()
        )
    settings = []
    grid = [
        (strategy, w, keep)
        for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]
        for w in [float(g) for g in args.guidance.split(",") if g.strip()]
        for keep in [float(k) for k in args.keep.split(",") if k.strip()]
    ]
    runs: list[dict[str, Any]] = []
    for strategy, w, keep in grid:
        runs.append({"strategy": strategy, "guidance": w, "keep": keep})
        if strategy == "beam":
            runs[-1]["beam_size"] = args.beam_size
    if args.search:
        ladder = DEFAULT_LADDERS[args.keep_mode] if args.search == "default" else parse_ladder(args.search)
        for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
            for m in [float(m) for m in args.margins.split(",") if m.strip()]:
                runs.append({"strategy": strategy, "search": ladder, "margin": m})
                if strategy == "beam":
                    runs[-1]["beam_size"] = args.beam_size
    for sampling in runs:
        sampling["keep_mode"] = args.keep_mode
        t0 = time.perf_counter()
        out = transfer_rows(gen, field, src, own, targets, **sampling)
        acc = clf.accuracy(out, {field: targets})[field]
        bleu = sacrebleu.corpus_bleu(out, [src], force=True).score
        settings.append(
            {
                **sampling,
                "accuracy": acc,
                "bleu_to_input": bleu,
                "bleu_to_human": sacrebleu.corpus_bleu(out, [refs], force=True).score,
                "unchanged": float(np.mean([a == b for a, b in zip(out, src)])),
                "geometric_mean": float(np.sqrt(max(acc, 0) * 100 * max(bleu, 0))),
                "seconds": round(time.perf_counter() - t0, 1),
                "examples": [{"source": s, "result": o} for s, o in list(zip(src, out))[::250]],
            }
        )
        print(json.dumps({k: v for k, v in settings[-1].items() if k != "examples"}), flush=True)
    result["settings"] = settings
    where = Path(args.run) if Path(args.run).is_dir() else Path(".")
    (where / "bench_transfer.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"classifier on sources {result['classifier_accuracy_on_sources']:.3f}; reconstruction BLEU "
        f"{result['reconstruction']['bleu_to_input']:.1f} (exact {result['reconstruction']['exact']:.3f}); "
        f"style probe on z {result['style_probe_on_z']:.3f}"
    )
    print("| strategy | guidance | keep | accuracy | BLEU to input | BLEU to human | unchanged | GM |")
    for s in settings:
        how = (
            (f"{s['strategy']} search, margin {s['margin']:g}", "ladder", "ladder")
            if "search" in s
            else (s["strategy"], f"{s['guidance']:g}", f"{s['keep']:g}")
        )
        print(
            f"| {how[0]} | {how[1]} | {how[2]} | {s['accuracy']:.3f} | "
            f"{s['bleu_to_input']:.1f} | "
            f"{s['bleu_to_human']:.1f} | {s['unchanged']:.3f} | {s['geometric_mean']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SeqCVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
