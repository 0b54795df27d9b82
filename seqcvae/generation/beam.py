"""Beam search over any decoder with the start/step/reorder protocol (GRU or Transformer)."""

from __future__ import annotations

import torch

from seqcvae.generation.guidance import GuidedSteps
from seqcvae.generation.keep import SourceBonus
from seqcvae.models.cvae import CVAE
from seqcvae.tokenizers.base import BOS, EOS, NEVER_SAMPLED, PAD


def normalised(log_p: torch.Tensor, length: int, length_penalty: float) -> torch.Tensor:
    """The beam's ranking of finished hypotheses: log p / length**length_penalty.

    length counts the generated tokens including <eos>. 0 ranks by log p itself (short
    sequences win); 1 by mean log p per token; above 1 favours longer sequences still more.
    """
    return log_p / float(length) ** length_penalty


@torch.no_grad()
def beam_search(
    model: CVAE,
    z: torch.Tensor,
    c: torch.Tensor,
    beam_size: int = 5,
    max_length: int = 100,
    length_penalty: float = 1.0,
    guidance: float = 1.0,
    bonus: SourceBonus | None = None,
) -> torch.Tensor:
    """Most likely sequence per row under p(x | z, c): z (B, Z), c (B, C) -> ids (B, L).

    Standard beam search that keeps beam_size (K) live hypotheses per row at every step: of the
    2K best extensions, those ending in <eos> among the K best go to the row's finished pool,
    and the K best that do not end stay live, so finishing never narrows the beam (a beam of 1
    is greedy decoding). Finished hypotheses are ranked by `normalised` (log p /
    length**length_penalty); one still live after max_length + 1 tokens is cut there and ranked
    the same way. The search stops once no live hypothesis can beat the row's best finished
    one, a bound that holds exactly (log p only falls as tokens are added), so a beam at least as
    wide as the number of extensions per step is exact search. Rows are padded with <pad>.
    guidance != 1 searches the classifier-free guided distribution (`GuidedSteps`) instead;
    `bonus` (one row per row of z): transfer's bonus on the input's tokens each hypothesis has not
    yet written, added to the logits before they are normalised (`keep.SourceBonus`).
    """
    model.eval()
    b, k = z.shape[0], beam_size
    device = z.device
    steps = GuidedSteps(model, z.repeat_interleave(k, dim=0), c.repeat_interleave(k, dim=0), guidance)
    bonus_k = (
        None if bonus is None else bonus.to(device).rows(torch.arange(b, device=device).repeat_interleave(k))
    )
    tokens = torch.full((b * k, 1), BOS, dtype=torch.long, device=device)
    scores = torch.zeros(b, k, device=device)  # log p of each live hypothesis
    scores[:, 1:] = float("-inf")  # all beams start identical: keep one alive at first
    base = torch.arange(b, device=device).unsqueeze(1) * k  # (B, 1): row offsets into B*k
    best = torch.full((b,), float("-inf"), device=device)
    best_seq = torch.full((b, max_length + 1), PAD, dtype=torch.long, device=device)
    width = 1
    for t in range(max_length + 1):
        length = t + 1  # tokens of a hypothesis that ends at this step
        logits = steps.step(tokens[:, -1])
        if bonus_k is not None:
            logits = logits.float() + bonus_k.bias()
        logp = logits.float().log_softmax(-1)
        logp[:, list(NEVER_SAMPLED)] = float("-inf")
        v = logp.shape[-1]
        total = (scores.unsqueeze(-1) + logp.view(b, k, v)).view(b, k * v)
        last = t == max_length
        top, flat = total.topk(k if last else min(2 * k, k * v), dim=1)
        tok = flat % v
        ends_here = (tok == EOS) | last
        # finished: the hypotheses that end among the k best extensions (at the last step, all)
        rank = torch.arange(top.shape[1], device=device)
        finished = top.masked_fill(~(ends_here & (rank < k)), float("-inf"))
        cand, j = normalised(finished, length, length_penalty).max(dim=1)
        better = cand > best
        if bool(better.any()):
            pick = flat.gather(1, j.unsqueeze(1)).squeeze(1)
            src = (base.squeeze(1) + pick // v)[better]
            best_seq[better, :length] = torch.cat([tokens[src, 1:], (pick % v)[better, None]], dim=1)
            best[better] = cand[better]
            width = max(width, length)
        if last:
            break
        # the k best extensions that do not end stay live (at most k of the 2k end in <eos>, one
        # per beam; with fewer than 2k candidates the missing ones are dead, at -inf)
        order = (ends_here.long() * top.shape[1] + rank).argsort(dim=1)[:, :k]
        scores = top.gather(1, order).masked_fill(ends_here.gather(1, order), float("-inf"))
        keep = flat.gather(1, order)
        rows = (base + keep // v).view(-1)
        tokens = torch.cat([tokens[rows], (keep % v).view(-1, 1)], dim=1)
        steps.reorder(rows)
        if bonus_k is not None:
            bonus_k.reorder(rows)
            bonus_k.consume((keep % v).view(-1))
        # Stop when no live hypothesis can still win: its log p can only fall, and it would end
        # with between length + 1 and max_length + 1 tokens (log p <= 0, so the larger divisor
        # gives the upper bound).
        divisor = max(float(length + 1) ** length_penalty, float(max_length + 1) ** length_penalty)
        if bool((best >= scores.max(dim=1).values / divisor).all()):
            break
    return best_seq[:, :width].cpu()
