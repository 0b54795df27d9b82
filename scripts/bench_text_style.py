#!/usr/bin/env python
"""Style accuracy of a text run's samples against its classifier's ceiling, over guidance (issue 16).

For each classifier-free guidance weight (--guidance), --n samples at the run's other sampling
settings under the tag combinations of held-out sentences drawn at random (as `seqcvae evaluate`
does), judged by the run's style classifier (TF-IDF logistic regression trained on the run's own
training file, seqcvae.evaluation.style). Per tag field: the samples' accuracy, the classifier's
accuracy on the real held-out sentences (the ceiling), the gap, per-value accuracy against the
classifier's recall on real sentences of that value, distinct-1/2 of each value's samples, and two
examples per value.

    python scripts/bench_text_style.py RUN [--data FILE] [--n 1000] [--guidance 1,1.5,2,3]

Prints a table and writes RUN/bench_text_style.json (./bench_text_style.json for pretrained:NAME).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.errors import SeqCVAEError  # noqa: E402
from seqcvae.evaluation.report import held_out, held_out_requests  # noqa: E402
from seqcvae.evaluation.style import train_style_classifier  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.text.metrics import distinct_n  # noqa: E402


def recall(tags: list[str], predicted: list[str]) -> dict[str, float]:
    """The share of each value's texts that the classifier assigns that value."""
    out = {}
    for value in sorted(set(tags)):
        rows = [i for i, t in enumerate(tags) if t == value]
        out[value] = sum(predicted[i] == value for i in rows) / len(rows)
    return out


def per_value(
    texts: list[str], tags: list[str], predicted: list[str], ceiling: dict[str, float]
) -> dict[str, Any]:
    """Accuracy (and the classifier's on real sentences of the value), distinct-1/2 and two
    examples of the samples asked for each tag value."""
    out: dict[str, Any] = {}
    for value in sorted(set(tags)):
        rows = [i for i, t in enumerate(tags) if t == value]
        mine = [texts[i] for i in rows]
        out[value] = {
            "samples": len(rows),
            "accuracy": sum(predicted[i] == value for i in rows) / len(rows),
            "ceiling": ceiling.get(value),
            "distinct_1": distinct_n(mine, 1),
            "distinct_2": distinct_n(mine, 2),
            "examples": mine[:2],
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--data", help="held-out file (default: the run's validation data)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--guidance", default="1,1.5,2,3", help="comma-separated weights")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        weights = [float(w) for w in args.guidance.split(",")]
    except ValueError:
        print(
            f"bench_text_style: --guidance {args.guidance!r} is not a comma-separated list of numbers",
            file=sys.stderr,
        )
        return 2
    try:
        gen = Generator.load(args.run)
        if gen.kind != "text" or not gen.conditions.categorical:
            print(f"bench_text_style: {args.run} is not a text run with tags", file=sys.stderr)
            return 2
        _, part = held_out(gen, args.data)
        clf = train_style_classifier(gen)
    except SeqCVAEError as exc:
        print(f"bench_text_style: {exc}", file=sys.stderr)
        return 2
    ceiling = clf.accuracy(part.sequences, part.tag_columns)
    value_ceiling = {
        field: recall([str(t) for t in tags], clf.predict(part.sequences, field) or [])
        for field, tags in part.tag_columns.items()
    }
    requests = held_out_requests(part, args.n, args.seed)
    result: dict[str, Any] = {
        "run": args.run,
        "samples": args.n,
        "ceiling": ceiling,
        "ceiling_per_value": value_ceiling,
        "settings": [],
    }
    print(f"classifier on the real held-out sentences (ceiling): {ceiling}; per value {value_ceiling}")
    for w in weights:
        t0 = time.perf_counter()
        texts = [r.sequence for r in gen.generate(requests, seed=args.seed, guidance=w)]
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"guidance": w, "seconds": round(seconds, 1), "fields": {}}
        for field in part.tag_columns:
            tags = [str(r[field]) for r in requests]
            predicted = clf.predict(texts, field) or []
            acc = sum(p == t for p, t in zip(predicted, tags)) / len(tags)
            row["fields"][field] = {
                "accuracy": acc,
                "gap_to_ceiling": ceiling[field] - acc,
                "distinct_1": distinct_n(texts, 1),
                "distinct_2": distinct_n(texts, 2),
                "values": per_value(texts, tags, predicted, value_ceiling[field]),
            }
            values = ", ".join(
                f"{v} {d['accuracy']:.3f} / {d['ceiling']:.3f}"
                for v, d in row["fields"][field]["values"].items()
            )
            print(
                f"guidance {w:g}: {field} accuracy {acc:.3f} (ceiling {ceiling[field]:.3f}, gap "
                f"{ceiling[field] - acc:+.3f}; {values}), distinct-1/2 {distinct_n(texts, 1):.3f} / "
                f"{distinct_n(texts, 2):.3f}, {seconds:.0f} s"
            )
        result["settings"].append(row)
    run = Path(args.run)
    out = (
        Path("bench_text_style.json") if args.run.startswith("pretrained:") else run / "bench_text_style.json"
    )
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
