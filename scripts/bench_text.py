#!/usr/bin/env python
"""Text benchmarks: train a text CVAE for a time budget, then `seqcvae evaluate` it.

Corpora:
  vader  the shipped data/vader sentences, sentiment x domain tags (config text_vader)
  ptb    Penn Treebank language modelling, ../shared/data/text/ptb (no tags), config text_lm
         (10,000 steps); published VAE baselines: test PPL 103-108 with KL ~7 (Sentence-VAE, texar)
  yelp   Yelp sentiment (neg/pos), ../shared/data/text/yelp; texar's style-transfer example
         reports 0.92 transfer accuracy
ptb and yelp are read from ../shared when present; the script exits cleanly (status 0, a
message) when they are absent.

    python scripts/bench_text.py vader [--minutes 9] [KEY=VALUE ...]
    python scripts/bench_text.py ptb [--fit-prior 64]        # text_lm's 10,000 steps; then a mixture prior
    python scripts/bench_text.py yelp
    python scripts/bench_text.py ptb --resume                # continue a stopped run
    python scripts/bench_text.py ptb --out runs/ptb_wide model.decoder_hidden=1024   # another run
Writes runs/bench_text_<corpus>/bench.json and prints it. With train.val_every_steps=N the json
also holds the validation curve: IW-NLL (k = train.val_iw_samples) and KL per sentence at each
validation, with the elapsed training time and the word perplexity that NLL gives over the
validation file's mean words per sentence (an estimate; the test figures are exact).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.config import load_config  # noqa: E402
from seqcvae.data.tables import read_sequences  # noqa: E402
from seqcvae.errors import SeqCVAEError  # noqa: E402
from seqcvae.evaluation.formatting import format_report  # noqa: E402
from seqcvae.evaluation.report import evaluate_run  # noqa: E402
from seqcvae.recipes.fit_prior import fit_prior  # noqa: E402
from seqcvae.recipes.train import resume_config, train  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "text"


def yelp_tsv(split: str, out: Path) -> Path:
    """Join yelp/<split>.neg and .pos into one TSV with a sentiment column."""
    path = out / f"yelp_{split}.tsv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("sentiment\ttext\n")
        for label in ("neg", "pos"):
            for line in (SHARED / "yelp" / f"{split}.{label}").read_text(encoding="utf-8").splitlines():
                if line.strip():
                    fh.write(f"{label}\t{line.strip()}\n")
    return path


def corpus_overrides(corpus: str, work: Path) -> tuple[list[str], str | None]:
    """(config overrides, held-out test file) for a corpus."""
    if corpus == "vader":
        return [], str(ROOT / "data" / "vader" / "test.tsv.gz")
    if corpus == "ptb":
        d = SHARED / "ptb"
        return [
            f"data.train_path={json.dumps(str(d / 'ptb.train.txt'))}",
            f"data.val_path={json.dumps(str(d / 'ptb.valid.txt'))}",
        ], str(d / "ptb.test.txt")
    if corpus == "yelp":
        return [
            f"data.train_path={json.dumps(str(yelp_tsv('train', work)))}",
            f"data.val_path={json.dumps(str(yelp_tsv('dev', work)))}",
            "data.tags=['sentiment']",
            "data.vocab_size=8000",
            "data.max_length=40",
        ], str(yelp_tsv("test", work))
    raise SystemExit(f"unknown corpus {corpus!r}; expected vader, ptb or yelp")


def words_per_sentence(path: str, column: str) -> float:
    """Mean whitespace words per non-empty sequence of a file, read as training reads it."""
    texts = [t for t in read_sequences(path, column=column) if t.strip()]
    return sum(len(t.split()) for t in texts) / max(len(texts), 1)


def validation_curve(run: Path, words: float) -> list[dict[str, float]]:
    """The validation rows of metrics.csv with the word perplexity their IW-NLL gives."""
    out = []
    with open(run / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] != "val" or not row["iw_nll"]:
                continue
            nll = float(row["iw_nll"])
            out.append(
                {
                    "step": int(row["step"]),
                    "elapsed_s": round(float(row["elapsed_s"]), 1),
                    "iw_nll": nll,
                    "kl": float(row["kl"]),
                    "ppl_word_estimate": round(math.exp(nll / (words + 1)), 2),
                }
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("corpus", choices=["vader", "ptb", "yelp"])
    ap.add_argument(
        "--minutes",
        type=float,
        help="training-loop budget (default 9, for ptb text_lm's steps; with --resume: the run's own)",
    )
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--max-sequences", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue the run (only budget overrides)")
    ap.add_argument(
        "--fit-prior",
        type=int,
        default=0,
        metavar="K",
        help="then fit a K-component mixture prior (seqcvae fit-prior) into <out>/mixture and "
        "evaluate that too (default 0: not)",
    )
    ap.add_argument("--out", type=Path, help="work directory (default runs/bench_text_<corpus>)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_intermixed_args()
    if args.corpus != "vader" and not (SHARED / args.corpus).exists():
        print(f"skipped: {SHARED / args.corpus} is absent")
        return
    out = args.out or ROOT / "runs" / f"bench_text_{args.corpus}"
    out.mkdir(parents=True, exist_ok=True)
    overrides, test_file = corpus_overrides(args.corpus, out)
    minutes = [] if args.minutes is None else [f"train.max_minutes={args.minutes}"]
    t0 = time.perf_counter()
    if args.resume:  # only the budget may change (a clear error names any other override)
        cfg = resume_config(out / "run", [*minutes, *args.overrides])
        train(cfg, out / "run", resume=True, progress=False)
    else:  # text_lm has a step budget; the tagged corpora 9 minutes unless --minutes says
        base = "text_lm" if args.corpus == "ptb" else "text_vader"
        minutes = minutes or ([] if base == "text_lm" else ["train.max_minutes=9.0"])
        cfg = load_config(base, [*overrides, *minutes, *args.overrides])
        train(cfg, out / "run", progress=False)
    train_s = time.perf_counter() - t0
    report = evaluate_run(
        out / "run", data=test_file, k=args.k, n_samples=args.n, max_sequences=args.max_sequences
    )
    summary = json.loads((out / "run" / "train_summary.json").read_text())
    report.update(
        {
            "corpus": args.corpus,
            "date": time.strftime("%Y-%m-%d"),
            "train_wall_seconds": round(train_s, 1),
            "train": summary,
            "overrides": [*overrides, *args.overrides],
        }
    )
    if cfg.data.val_path:
        report["validation_curve"] = validation_curve(
            out / "run", words_per_sentence(cfg.data.val_path, cfg.data.sequence_column)
        )
    if args.fit_prior:
        mixture = out / "mixture"
        if mixture.exists():
            raise SeqCVAEError(f"{mixture} exists: move it away to fit the prior again")
        fit = fit_prior(str(out / "run"), str(mixture), components=args.fit_prior)
        report["mixture"] = evaluate_run(
            mixture, data=test_file, k=args.k, n_samples=args.n, max_sequences=args.max_sequences
        )
        report["mixture"]["fit"] = fit
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    print(format_report(report))
    print(json.dumps(report, indent=2))


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (`kill PID`) stops the run as Ctrl-C does: training saves checkpoints/last at the
    step it reached, so `--resume` continues from there."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    try:
        main()
    except SeqCVAEError as exc:  # bad input: one line, status 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("stopped; continue with --resume", file=sys.stderr)
        sys.exit(130)
