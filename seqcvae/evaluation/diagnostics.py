"""Posterior-collapse diagnostics and likelihood estimates for a trained CVAE.

- IW-NLL (Burda et al. 2016): -log (1/K sum_k p(x|z_k,c) p(z_k|c) / q(z_k|x,c)), z_k ~ q.
- Perplexity: exp(total IW-NLL / total target tokens, <eos> included).
- Active units (Burda et al.): dimensions whose posterior mean varies across data, Var_x E_q[z] >= 0.01.
- Mutual information I_q(x; z) (Hoffman & Johnson 2016; estimator of He et al. 2019):
  E_x E_q(z|x) log q(z|x) - E_q(z) log q(z), with q(z) the aggregate posterior over the data.
- Reconstruction accuracy: fraction of sequences that greedy decoding from the posterior mean
  z = E_q[z|x, c] reproduces exactly (every token and <eos>).
- Adversary accuracy (a model trained with a tag adversary): how often the adversary reads a
  labelled sequence's tag off its posterior mean; near the majority tag's share, z hides the tag.
"""

from __future__ import annotations

import math

import torch

from seqcvae.data.dataset import TokenDataset
from seqcvae.generation.sampling import SamplingSettings, decode_tokens
from seqcvae.models.cvae import CVAE
from seqcvae.models.losses import gaussian_log_prob


@torch.no_grad()
def evaluate_model(
    model: CVAE,
    ds: TokenDataset,
    k: int = 50,
    batch_size: int = 128,
    max_sequences: int = 0,
    seed: int = 0,
    words: int = 0,
    reconstruction: bool = True,
) -> dict[str, float]:
    """Negative ELBO ("nelbo" = rec + kl, lower is better), IW-NLL (k samples), PPL, KL, active
    units, MI and reconstruction accuracy over `ds` (nats per sequence). The negative ELBO uses
    the first of the k posterior samples.

    Uses the first `max_sequences` sequences (0 = all). `words`: whitespace words in those
    sequences; when given, also reports word-level perplexity exp(NLL / (words + sequences)),
    the convention of the PTB language-modelling literature (one <eos> per sentence).
    """
    model.eval()
    ds = ds.head(max_sequences)
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    n = 0
    tokens = 0
    rec_sum = kl_sum = iw_sum = 0.0
    mus: list[torch.Tensor] = []
    logvars: list[torch.Tensor] = []
    neg_entropy = 0.0
    exact = 0
    tags_right = tags_seen = 0
    adversary = getattr(model, "tag_adversary", None)  # a CVAE has one, maybe None
    for b in ds.iter_batches(batch_size):
        b = b.to(device)
        c = model.embed_conditions(b.cond_values, b.cond_present, b.cond_tags)
        mu, logvar = model.encode(b.tokens, b.lengths, c)
        if adversary is not None:
            right, seen = _adversary_hits(adversary(mu)[0], b.cond_tags)
            tags_right, tags_seen = tags_right + right, tags_seen + seen
        targets = b.tokens[:, 1:]
        log_w, draws = [], []
        for i in range(k):
            eps = torch.randn(mu.shape, generator=gen).to(device)
            z = CVAE.reparameterise(mu, logvar, eps)
            rec = model.decode_nll(b.tokens[:, :-1], z, c, targets).sum(dim=1)
            if i == 0:
                rec_sum += float(rec.sum())
            log_w.append(-rec + model.prior_log_prob(z, c) - gaussian_log_prob(z, mu, logvar))
            draws.append(z)
        iw = torch.logsumexp(torch.stack(log_w), dim=0) - math.log(k)
        iw_sum += float(-iw.sum())
        kl_sum += float(model.kl_to_prior(mu, logvar, c, torch.stack(draws)).sum())
        neg_entropy += float((-0.5 * (1 + logvar + math.log(2 * math.pi))).sum())
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
        if reconstruction:
            exact += int(_exact_reconstructions(model, mu, c, targets))
        n += b.size
        tokens += int(b.lengths.sum())
    mu_all, lv_all = torch.cat(mus), torch.cat(logvars)
    au = int((mu_all.var(dim=0) >= 0.01).sum()) if len(mu_all) > 1 else 0
    # Aggregate posterior log q(z) for one z per sequence, over (a random subsample of) all
    # posteriors: batches come sorted by length, so the first rows would be the shortest ones.
    m = min(len(mu_all), 2000)
    pick = torch.randperm(len(mu_all), generator=gen)[:m] if m < len(mu_all) else torch.arange(m)
    mu_s, lv_s = mu_all[pick], lv_all[pick]
    z = CVAE.reparameterise(mu_s, lv_s, torch.randn(mu_s.shape, generator=gen))
    log_q = torch.stack([gaussian_log_prob(z[i : i + 1], mu_s, lv_s) for i in range(m)])  # (m, m)
    log_qz = torch.logsumexp(log_q, dim=1) - math.log(m)
    mi = neg_entropy / n - float(log_qz.mean())
    out = {
        "sequences": float(n),
        "rec": rec_sum / n,
        "kl": kl_sum / n,
        "nelbo": (rec_sum + kl_sum) / n,
        "iw_nll": iw_sum / n,
        "ppl": math.exp(iw_sum / tokens),
        "active_units": float(au),
        "latent_dim": float(mu_all.shape[1]),
        "mutual_info": mi,
        "k": float(k),
    }
    if reconstruction:
        out["recon_accuracy"] = exact / n
    if words:
        out["ppl_word"] = math.exp(iw_sum / (words + n))
    if tags_seen:
        out["adversary_accuracy"] = tags_right / tags_seen
    return out


def _adversary_hits(logits: list[torch.Tensor], tags: torch.Tensor) -> tuple[int, int]:
    """(right, labelled): how often the tag adversary reads each labelled row's tag off its
    posterior mean (over the tag values, not "unspecified"), summed over the tags."""
    right = seen = 0
    for j, head in enumerate(logits):
        t = tags[:, j]
        labelled = t > 0
        right += int((head[labelled, 1:].argmax(-1) + 1 == t[labelled]).sum())
        seen += int(labelled.sum())
    return right, seen


def _exact_reconstructions(model: CVAE, mu: torch.Tensor, c: torch.Tensor, targets: torch.Tensor) -> int:
    """How many rows greedy decoding from z = mu reproduces exactly; targets (B, T) padded after <eos>."""
    settings = SamplingSettings(strategy="greedy", max_length=targets.shape[1])
    out = decode_tokens(model, mu, c, settings)
    width = max(out.shape[1], targets.shape[1])
    out = torch.nn.functional.pad(out, (0, width - out.shape[1]))
    tgt = torch.nn.functional.pad(targets, (0, width - targets.shape[1]))
    return int((out == tgt).all(dim=1).sum())
