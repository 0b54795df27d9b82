#!/usr/bin/env python
"""How much likelihood does a trained text VAE lose to its N(0, I) prior? (issue 16)

The best prior for a trained encoder is its aggregate posterior q(z) = mean_n q(z | x_n); the
gap KL(q(z) || N(0, I)) is paid on every sentence. This script encodes a text run's training
sentences, fits priors to the posteriors (the decoder and encoder unchanged), and measures the
IW-NLL of held-out sentences under each prior with the same posterior samples and the same
decoder passes (a paired comparison):

- `standard`: N(0, I), the model as trained;
- `gmm-K`: a diagonal Gaussian mixture of K components fitted by EM to posterior samples
  (`--samples` draws per training sentence), what `seqcvae fit-prior --components K` writes;
- `posteriors`: the mixture of all training posteriors (the training ELBO's optimum).

    python scripts/bench_fitted_prior.py runs/ptb_lstm_locked/run --which last \
        --eval ../shared/data/text/ptb/ptb.valid.txt ../shared/data/text/ptb/ptb.test.txt \
        --max-sequences 500 --k 50 --components 16 64 256

Prints one JSON object: per file and prior, IW-NLL and word perplexity (per word with the ends of
sentences), and the KL from each sentence's posterior to the prior (Monte Carlo).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqcvae.data.dataset import TokenDataset  # noqa: E402
from seqcvae.errors import SeqCVAEError  # noqa: E402
from seqcvae.evaluation.report import held_out, run_splits  # noqa: E402
from seqcvae.generation.generator import Generator  # noqa: E402
from seqcvae.models.cvae import CVAE  # noqa: E402
from seqcvae.models.losses import gaussian_log_prob  # noqa: E402
from seqcvae.models.mixture_prior import MixturePrior  # noqa: E402
from seqcvae.training.prior_fit import posterior_draws  # noqa: E402


def held_out_file(gen: Generator, path: str, limit: int = 0) -> tuple[TokenDataset, int]:
    """The first `limit` rows of a file (0 = all) as `seqcvae evaluate --data` reads them, and their
    whitespace words."""
    ds, part = held_out(gen, path)
    ds = ds.head(limit)
    return ds, sum(len(t.split()) for t in part.sequences[: len(ds)])


@torch.no_grad()
def posteriors(model: CVAE, ds: TokenDataset, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    mus, logvars = [], []
    for b in ds.iter_batches(batch_size):
        c = model.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
        mu, logvar = model.encode(b.tokens, b.lengths, c)
        mus.append(mu)
        logvars.append(logvar)
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def measure(model: CVAE, ds: TokenDataset, words: int, priors: dict, k: int, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    iw = {name: 0.0 for name in priors}
    kl = {name: 0.0 for name in priors}
    n = 0
    for b in ds.iter_batches(128):
        c = model.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
        mu, logvar = model.encode(b.tokens, b.lengths, c)
        log_w: dict[str, list[torch.Tensor]] = {name: [] for name in priors}
        for _ in range(k):
            z = CVAE.reparameterise(mu, logvar, torch.randn(mu.shape, generator=gen))
            rec = model.decode_nll(b.tokens[:, :-1], z, c, b.tokens[:, 1:]).sum(1)
            log_q = gaussian_log_prob(z, mu, logvar)
            for name, log_p in priors.items():
                lp = log_p(z)
                log_w[name].append(-rec + lp - log_q)
                kl[name] += float((log_q - lp).sum()) / k
        for name in priors:
            iw[name] -= float((torch.stack(log_w[name]).logsumexp(0) - math.log(k)).sum())
        n += b.size
    return {
        name: {
            "iw_nll": iw[name] / n,
            "ppl_word": math.exp(iw[name] / (words + n)),
            "kl": kl[name] / n,
        }
        for name in priors
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run", help="a text run directory or checkpoint")
    ap.add_argument("--which", default="best", choices=["best", "last"])
    ap.add_argument("--eval", nargs="+", required=True, help="held-out text files")
    ap.add_argument("--max-sequences", type=int, default=500, help="first N sentences of each (0 = all)")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--components", type=int, nargs="*", default=[16, 64, 256])
    ap.add_argument("--samples", type=int, default=4, help="posterior draws per training sentence")
    ap.add_argument("--iterations", type=int, default=50, help="EM iterations")
    ap.add_argument("--no-posteriors", action="store_true", help="skip the mixture of all posteriors")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    gen = Generator.load(args.run, which=args.which)
    model = gen.model.eval()
    if gen.config.data.kind != "text":
        raise SeqCVAEError(f"{args.run} is a {gen.config.data.kind} run; expected a text run")
    if model.prior is not None:
        raise SeqCVAEError(f"{args.run} has a conditional prior; this compares against N(0, I)")
    start = time.perf_counter()
    train = run_splits(gen).train  # the rows it trained on, as `seqcvae fit-prior` reads them
    mu, logvar = posteriors(model, train)
    draws = posterior_draws(model, train, args.samples, args.seed)
    priors: dict = {"standard": gaussian_log_prob}
    fit_s = {}
    for k in args.components:
        t = time.perf_counter()
        mixture = MixturePrior(k, draws.shape[1])
        mixture.fit(draws, args.iterations, args.seed)
        priors[f"gmm-{k}"] = mixture.log_prob
        fit_s[f"gmm-{k}"] = time.perf_counter() - t
    if not args.no_posteriors:  # every training posterior a component, equally weighted
        everyone = MixturePrior(len(mu), mu.shape[1])
        everyone.mu.copy_(mu)
        everyone.logvar.copy_(logvar)
        priors["posteriors"] = everyone.log_prob
    out: dict = {
        "run": args.run,
        "which": args.which,
        "k": args.k,
        "train_sentences": len(mu),
        "fit_s": fit_s,
    }
    for path in args.eval:
        ds, words = held_out_file(gen, path, args.max_sequences)
        t = time.perf_counter()
        out[Path(path).name] = measure(model, ds, words, priors, args.k, args.seed)
        out[Path(path).name]["sentences"] = len(ds)
        out[Path(path).name]["seconds"] = time.perf_counter() - t
    out["seconds"] = time.perf_counter() - start
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    try:
        main()
    except SeqCVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
