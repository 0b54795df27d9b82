#!/usr/bin/env python
"""Rebuild data/vader/ from the PyPI source archive vaderSentiment==3.3.2 (MIT licence).

The sdist (not the wheel) holds additional_resources/hutto_ICWSM_2014.tar.gz with four
*_GroundTruth.txt files (id, mean rating of >= 20 raters on -4..+4, text). Recipe, as in the
benchmark copy's SOURCE.md:
  sentiment = pos if rating >= 0.5, neg if rating <= -0.5, else neu
  text      = whitespace runs collapsed to one space (nothing else changed)
  split     = int(md5(f"{domain}:{id}"), 16) % 20: 0 -> test, 1 -> dev, else train
Output: data/vader/{train,dev,test}.tsv.gz with header `sentiment<TAB>domain<TAB>text`
(gzip mtime 0, so reruns give identical bytes).

Usage:
  python scripts/prepare_vader.py                     # fetches the sdist with `pip download`
  python scripts/prepare_vader.py --sdist path/to/vaderSentiment-3.3.2.tar.gz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
DOMAINS = {
    "tweets": "tweet",
    "movieReviewSnippets": "movie_review",
    "amazonReviewSnippets": "product_review",
    "nytEditorialSnippets": "nyt_editorial",
}


def fetch_sdist() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="vader-"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(tmp),
            "vaderSentiment==3.3.2",
        ],
        check=True,
    )
    return next(tmp.glob("vaderSentiment-3.3.2.tar.gz"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sdist")
    ap.add_argument("--out", default=str(ROOT / "data" / "vader"))
    args = ap.parse_args()
    sdist = Path(args.sdist) if args.sdist else fetch_sdist()
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest} != expected {SDIST_SHA256}")
    with tarfile.open(sdist) as outer:
        member = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
        assert member is not None
        inner = tarfile.open(fileobj=io.BytesIO(member.read()))  # noqa: SIM115 (in-memory)
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for stem, domain in DOMAINS.items():
        member = inner.extractfile(f"hutto_ICWSM_2014/{stem}_GroundTruth.txt")
        assert member is not None
        for line in member.read().decode("utf-8").splitlines():
            sid, score, text = line.split("\t")
            rating = float(score)
            label = "pos" if rating >= 0.5 else "neg" if rating <= -0.5 else "neu"
            text = " ".join(text.split())
            h = int(hashlib.md5(f"{domain}:{sid}".encode()).hexdigest(), 16) % 20
            split = "test" if h == 0 else "dev" if h == 1 else "train"
            splits[split].append(f"{label}\t{domain}\t{text}\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split, lines in splits.items():
        path = out / f"{split}.tsv.gz"
        body = ("sentiment\tdomain\ttext\n" + "".join(lines)).encode("utf-8")
        with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
            gz.write(body)
        print(f"{path}: {len(lines)} sentences")


if __name__ == "__main__":
    main()
