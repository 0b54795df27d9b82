#!/usr/bin/env python
"""Issue 4: how should the Transformer decoder see (z, c)? Prefix tokens vs cross-attention memory.

Speed (this script): the same Transformer CVAE (encoder 2x128, decoder 3x192, 4 heads, as in
BENCHMARKS.md) with the decoder conditioned as
  prefix:1   (z, c) -> one vector before <bos>        (the default)
  prefix:4   (z, c) -> four vectors before <bos>
  memory:1   (z, c) -> one memory vector, cross-attention in every block
  memory:4   (z, c) -> four memory vectors
timed interleaved round-robin so machine noise hits all variants alike: training step (forward +
backward + AdamW, batch 128 of MOSES-sample molecules, freshly initialised models) and, for the
variants given trained runs with --runs, sampling (1000 molecules per call, T 0.8, top-p 0.95,
from the trained model, so that the lengths are real). Prints one JSON object.

Quality comes from training each variant for the same number of steps with
scripts/bench_smiles_default.py (commands in BENCHMARKS.md) and reading RUN/bench_smiles_default.json
(pass the runs with --runs NAME=DIR ...).

    python scripts/bench_decoder_condition.py --runs prefix:1=runs/i4_prefix1 memory:1=runs/i4_memory1
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.generation.sampling import SamplingSettings, decode_tokens  # noqa: E402
from seqcvae.models.cvae import CVAE, CVAEShape  # noqa: E402
from seqcvae.tokenizers.smiles import SmilesTokenizer  # noqa: E402

VARIANTS = ("prefix:1", "prefix:4", "memory:1", "memory:4")


def build(variant: str, vocab: int) -> CVAE:
    condition, tokens = variant.split(":")
    torch.manual_seed(0)
    return CVAE(
        CVAEShape(
            vocab_size=vocab,
            num_continuous=7,
            tag_sizes=[],
            embedding_dim=64,
            encoder_hidden=128,
            encoder_layers=2,
            decoder_hidden=192,
            decoder_layers=3,
            latent_dim=64,
            condition_dim=64,
            heads=4,
            max_positions=102,
            encoder="transformer",
            decoder="transformer",
            decoder_condition=condition,
            condition_tokens=int(tokens),
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5, help="training steps per variant per round")
    ap.add_argument("--runs", nargs="*", default=[], metavar="VARIANT=RUN_DIR")
    args = ap.parse_args()

    with gzip.open(ROOT / "data" / "moses_sample" / "train.csv.gz", "rt") as fh:
        smiles = [line.split(",")[0] for line in fh.read().splitlines()[1:]]
    tok = SmilesTokenizer.train(smiles)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, len(smiles), (128,), generator=g).tolist()
    seqs = [[1, *tok.encode(smiles[i]), 2] for i in idx]
    width = max(len(s) for s in seqs)
    tokens = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    lengths = torch.tensor([len(s) - 1 for s in seqs])
    values = torch.randn(128, 7)
    models = {v: build(v, tok.vocab_size) for v in VARIANTS}
    runs = dict(item.partition("=")[::2] for item in args.runs)
    trained = {v: Generator.load(run).model for v, run in runs.items()}
    opts = {v: torch.optim.AdamW(m.parameters(), lr=1e-3) for v, m in models.items()}
    train_s: dict[str, list[float]] = {v: [] for v in VARIANTS}
    sample_s: dict[str, list[float]] = {v: [] for v in VARIANTS}
    settings = SamplingSettings(strategy="sample", temperature=0.8, top_p=0.95, max_length=100)
    for _ in range(args.rounds):
        for v, model in models.items():
            model.train()
            t = time.perf_counter()
            for _ in range(args.steps):
                c = model.embed_conditions(
                    values, torch.ones_like(values), torch.zeros(128, 0, dtype=torch.long)
                )
                out = model(tokens, lengths, c)
                loss = out.nll.sum() / (tokens[:, 1:] != 0).sum() + 0.01 * out.mu.pow(2).mean()
                opts[v].zero_grad()
                loss.backward()
                opts[v].step()
            train_s[v].append((time.perf_counter() - t) / args.steps)
            if v not in trained:
                continue
            m = trained[v]
            with torch.no_grad():
                n_cont = m.shape.num_continuous
                c = m.embed_conditions(
                    torch.zeros(1000, n_cont),
                    torch.zeros(1000, n_cont),
                    torch.zeros(1000, 0, dtype=torch.long),
                )
                z = torch.randn(1000, m.shape.latent_dim, generator=torch.Generator().manual_seed(1))
                t = time.perf_counter()
                decode_tokens(m, z, c, settings, seed=2)
                sample_s[v].append(time.perf_counter() - t)
    speed = {}
    base = statistics.median(train_s["prefix:1"])
    for v in VARIANTS:
        step = statistics.median(train_s[v])
        speed[v] = {
            "parameters": sum(p.numel() for p in models[v].parameters()),
            "train_step_s_median": round(step, 4),
            "train_molecules_per_s": round(128 / step, 1),
            "train_speed_vs_prefix1": round(base / step, 3),
        }
        if sample_s[v]:
            speed[v]["sampling_molecules_per_s"] = round(1000 / statistics.median(sample_s[v]), 1)
    quality = {}
    for name, run in runs.items():
        bench = json.loads((Path(run) / "bench_smiles_default.json").read_text())
        quality[name] = {
            k: bench.get(k)
            for k in (
                "train_steps",
                "validity",
                "validity_plain_sampling_t1",
                "uniqueness",
                "logp_spearman",
                "logp_mae",
            )
        }
        metrics = (Path(run) / "metrics.csv").read_text().splitlines()
        head = metrics[0].split(",")
        last_val = [r.split(",") for r in metrics[1:] if r.split(",")[2] == "val"][-1]
        quality[name].update(
            {f"val_{k}": last_val[head.index(k)] for k in ("nelbo", "elbo", "rec", "kl") if k in head}
        )
    print(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
                "torch": torch.__version__,
                "rounds": args.rounds,
                "speed": speed,
                "quality": quality,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
