"""Beam search over any decoder with the start/step/reorder protocol (GRU or Transformer)."""

from __future__ import annotations

import torch

from seqcvae.generation.sampling import NEVER_SAMPLED
from seqcvae.models.cvae import CVAE
from seqcvae.tokenizers.base import BOS, EOS, PAD


@torch.no_grad()
def beam_search(
    model: CVAE,
    z: torch.Tensor,
    c: torch.Tensor,
    beam_size: int = 5,
    max_length: int = 100,
    length_penalty: float = 1.0,
) -> torch.Tensor:
    """Most likely sequence per row under p(x | z, c): z (B, Z), c (B, C) -> ids (B, L).

    Finished hypotheses are scored by log p / length**length_penalty. Rows end with <eos> (or
    are cut at max_length) and are padded with <pad>.
    """
    model.eval()
    b, k = z.shape[0], beam_size
    device = z.device
    zc = torch.cat([z, c], dim=-1).repeat_interleave(k, dim=0)  # (B*k, Z+C)
    state = model.decoder.start(zc)
    tokens = torch.full((b * k, 1), BOS, dtype=torch.long, device=device)
    scores = torch.zeros(b, k, device=device)
    scores[:, 1:] = float("-inf")  # all beams start identical: keep one alive at first
    best: list[tuple[float, list[int]]] = [(float("-inf"), []) for _ in range(b)]
    for t in range(max_length + 1):
        logits, state = model.decoder.step(model.embedding(tokens[:, -1]), state)
        logp = logits.log_softmax(-1)
        logp[:, list(NEVER_SAMPLED)] = float("-inf")
        v = logp.shape[-1]
        total = (scores.view(-1, 1) + logp).view(b, k * v)
        top, idx = total.topk(k, dim=1)  # (B, k)
        beam = idx // v
        tok = idx % v
        rows = (torch.arange(b, device=device).unsqueeze(1) * k + beam).view(-1)
        tokens = torch.cat([tokens[rows], tok.view(-1, 1)], dim=1)
        state = model.decoder.reorder(state, rows)
        scores = top.clone()
        ended = (tok == EOS) | (t == max_length)
        for i, j in ended.nonzero().tolist():
            seq = tokens[i * k + j, 1:].tolist()
            score = float(top[i, j]) / (len(seq) ** length_penalty)
            if score > best[i][0]:
                best[i] = (score, seq)
        scores[ended] = float("-inf")
        # Stop when no live beam can beat the best finished one: raw log p only falls, and the
        # most a live beam's normalised score can reach is raw / (max_length + 1) ** penalty.
        bound = scores.max(dim=1).values / float(max_length + 1) ** length_penalty
        if all(best[i][0] >= float(bound[i]) for i in range(b)):
            break
    width = max(len(s) for _, s in best) if best else 1
    out = torch.full((b, max(width, 1)), PAD, dtype=torch.long)
    for i, (_, seq) in enumerate(best):
        out[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out
