"""Batched autoregressive decoding: greedy, temperature, top-k and top-p (nucleus) sampling."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqcvae.errors import ConfigError
from seqcvae.models.cvae import CVAE
from seqcvae.tokenizers.base import BOS, EOS, PAD, UNK

NEVER_SAMPLED = (PAD, BOS, UNK)  # control tokens that are never a valid next token


@dataclass
class SamplingSettings:
    strategy: str = "sample"  # "greedy", "sample" or "beam"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_length: int = 100
    beam_size: int = 5

    def validate(self) -> None:
        if self.strategy not in ("greedy", "sample", "beam"):
            raise ConfigError(f"sampling strategy {self.strategy!r} is not one of greedy, sample, beam")
        if self.beam_size < 1:
            raise ConfigError(f"beam_size={self.beam_size} must be >= 1")
        if not self.temperature > 0:
            raise ConfigError(f"temperature={self.temperature} must be > 0")
        if self.top_k < 0:
            raise ConfigError(f"top_k={self.top_k} must be >= 0 (0 = off)")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p={self.top_p} must be in (0, 1]")
        if self.max_length < 1:
            raise ConfigError(f"max_length={self.max_length} must be >= 1")


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set logits outside the top-k / nucleus to -inf. logits (B, V)."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the mass before it already reaches top_p (the top token always stays).
        drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def decode_tokens(
    model: CVAE,
    z: torch.Tensor,
    c: torch.Tensor,
    settings: SamplingSettings,
    generator: torch.Generator | None = None,
    drop_finished: bool = True,
) -> torch.Tensor:
    """Decode z (B, Z) under c (B, C) -> token ids (B, L) ending in <eos> or cut at max_length.

    Finished rows are padded with <pad>; the loop stops when every row has emitted <eos>.
    drop_finished=False keeps finished rows in the decoder's state (slower; for measurement).
    """
    model.eval()
    b = z.shape[0]
    device = z.device
    zc = torch.cat([z, c], dim=-1)
    state = model.decoder.start(zc)
    token = torch.full((b,), BOS, dtype=torch.long, device=device)
    out = torch.full((b, settings.max_length + 1), PAD, dtype=torch.long, device=device)
    # Rows still decoding (indices into the batch). Finished rows are dropped from the decoder's
    # state once they are a quarter of it, so late steps cost only what is left to decode.
    active = torch.arange(b, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    for t in range(settings.max_length + 1):
        logits, state = model.decoder.step(model.embedding(token), state)
        logits[:, NEVER_SAMPLED] = float("-inf")
        if settings.strategy == "greedy":
            token = logits.argmax(dim=-1)
        else:
            logits = filter_logits(logits / settings.temperature, settings.top_k, settings.top_p)
            probs = logits.softmax(dim=-1)
            token = (
                torch.multinomial(probs.cpu() if generator is not None else probs, 1, generator=generator)
                .squeeze(1)
                .to(device)
            )
        token = token.masked_fill(done, PAD)
        out[active, t] = token
        done |= token == EOS
        n_done = int(done.sum())
        if n_done == len(active):
            return out[:, : t + 1]
        if drop_finished and n_done * 4 >= len(active):
            keep = (~done).nonzero().squeeze(1)
            state = model.decoder.reorder(state, keep)
            active, token, done = active[keep], token[keep], done[keep]
    return out
