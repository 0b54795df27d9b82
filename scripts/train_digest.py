#!/usr/bin/env python
"""Digests of fixed short training runs, to show that a change to the trainer leaves its results
byte-identical (or to see which runs it changes).

    python scripts/train_digest.py OUT.json [--compare BEFORE.json]

Trains smiles_tiny four ways on the deterministic step clock of tests/fakeclock.py, on one thread:
word and condition dropout, free bits, a cyclical KL and validation every 4 steps; a time budget;
Transformer encoder and decoder; and the first run interrupted at step 5 and resumed. Writes the
SHA-256 (first 16 hex digits) of the weights and the meta of checkpoints/best and checkpoints/last
and of metrics.csv for each. With --compare, exits 1 when any digest differs from BEFORE.json.
Digests are comparable on one machine and torch build only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.cli import main as cli  # noqa: E402
from seqcvae.models.checkpoint import load_checkpoint  # noqa: E402
from tests.fakeclock import FakeClock, install  # noqa: E402

POLICY = [
    "train.max_steps=14",
    "train.word_dropout=0.25",
    "train.condition_dropout=0.3",
    "train.free_bits=0.1",
    "train.val_every_steps=4",
    "train.log_every_steps=1",
    "train.kl_schedule=cyclical",
    "train.kl_cycle_steps=6",
]
RUNS = {
    "policy": POLICY,
    "budget": ["data.limit=600", "train.epochs=5", "train.max_steps=0", "train.max_minutes=0.05"],
    "transformer": [
        "train.max_steps=8",
        "model.encoder=transformer",
        "model.decoder=transformer",
        "model.encoder_hidden=32",
        "model.decoder_hidden=32",
        "model.heads=2",
        "train.log_every_steps=2",
    ],
}
# Meta keys whose values legitimately differ between versions of the key names.
IGNORED_META = {"format_version"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def digest_run(run: Path) -> dict[str, str]:
    out = {}
    for which in ("best", "last"):
        ck = load_checkpoint(run, which=which)
        h = hashlib.sha256()
        for k in sorted(ck.weights):
            h.update(k.encode())
            h.update(ck.weights[k].numpy().tobytes())
        out[f"{which}_weights"] = h.hexdigest()[:16]
        meta = {k: v for k, v in ck.meta.items() if k not in IGNORED_META}
        out[f"{which}_meta"] = _sha(json.dumps(meta, sort_keys=True).encode())
    out["metrics"] = _sha((run / "metrics.csv").read_bytes())
    return out


def _train(args: list[str], clock: FakeClock) -> int:
    install(clock)
    return cli(["train", "--no-progress", *args])


def digests() -> dict[str, dict[str, str]]:
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in RUNS.items():
            run = Path(tmp) / name
            assert _train(["--config", "smiles_tiny", "--out", str(run), *extra], FakeClock(0.125)) == 0
            results[name] = digest_run(run)
        run = Path(tmp) / "resume"
        args = ["--config", "smiles_tiny", "--out", str(run), *POLICY]
        assert _train(args, FakeClock(0.125, interrupt_before=5)) == 130
        assert _train(["--resume", str(run), "train.max_steps=14"], FakeClock(0.125)) == 0
        results["resume"] = digest_run(run)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--compare", type=Path)
    a = ap.parse_args()
    results = digests()
    a.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if a.compare is None:
        return 0
    before = json.loads(a.compare.read_text(encoding="utf-8"))
    diff = [f"{r} {k}" for r in results for k in results[r] if before[r][k] != results[r][k]]
    print("identical" if not diff else "differ: " + ", ".join(diff), file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
