"""Batched autoregressive decoding: greedy, temperature, top-k and top-p (nucleus) sampling."""

from __future__ import annotations

import torch

from seqcvae.config import SamplingSettings
from seqcvae.generation.grammar import SmilesSyntax
from seqcvae.generation.guidance import GuidedSteps
from seqcvae.generation.keep import SourceBonus
from seqcvae.models.cvae import CVAE
from seqcvae.tokenizers.base import BOS, EOS, NEVER_SAMPLED, PAD


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


_MASK64 = (1 << 64) - 1


def _signed64(x: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    x &= _MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


_GOLDEN = _signed64(0x9E3779B97F4A7C15)
_MIX1 = _signed64(0xBF58476D1CE4E5B9)
_MIX2 = _signed64(0x94D049BB133111EB)


def _shr(x: torch.Tensor, n: int) -> torch.Tensor:
    """Logical right shift of int64 bits (torch's >> is arithmetic for signed integers)."""
    return (x >> n) & ((1 << (64 - n)) - 1)


def splitmix64(x: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser of x + golden gamma, elementwise on int64 (wrapping arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ _shr(x, 30)) * _MIX1
    x = (x ^ _shr(x, 27)) * _MIX2
    return x ^ _shr(x, 31)


def row_uniforms(seed: int, rows: torch.Tensor, steps: int) -> torch.Tensor:
    """Uniforms u in [0, 1) (len(rows), steps), float32, where u[i, t] = hash(seed, rows[i], t).

    A counter-based stream: each row's draws depend only on the seed and the row's index, never
    on which other rows share its batch, so any batching gives the same samples. 23 random bits
    per draw (so that u * total < total holds exactly in float32, see `inverse_cdf`).
    """
    key = splitmix64(torch.tensor(_signed64(seed), dtype=torch.long, device=rows.device))
    row_key = splitmix64(key ^ rows.long())
    t = torch.arange(steps, dtype=torch.long, device=rows.device)
    h = splitmix64(row_key.unsqueeze(1) * _GOLDEN + t)  # each row counts up from its own start
    return _shr(h, 41).float() * 2.0**-23


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Token j per row with cdf[j - 1] <= u * total < cdf[j]: a draw from probs (B, V) given
    uniforms u (B,). Tokens of probability 0 are never drawn."""
    cdf = probs.cumsum(dim=-1)
    v = u.unsqueeze(1) * cdf[:, -1:]
    token = torch.searchsorted(cdf, v, right=True).squeeze(1).clamp_(max=probs.shape[-1] - 1)
    # cumsum is monotone on the CPU; a parallel scan may round a zero-probability step upwards,
    # which this guards against (it never triggers with a sequential cumsum).
    ok = probs.gather(1, token.unsqueeze(1)).squeeze(1) > 0
    return torch.where(ok, token, probs.argmax(dim=-1))


def _redraw_refused(
    syntax: SmilesSyntax,
    logits: torch.Tensor,
    token: torch.Tensor,
    u: torch.Tensor | None,
    done: torch.Tensor,
    written: torch.Tensor,
) -> torch.Tensor:
    """Ends the end check refuses (`SmilesSyntax.refused`, given the tokens `written` so far) are
    struck from their row's distribution and the row draws again with the same uniform (greedy:
    the next best); a row with nothing left keeps its token."""
    for _ in range(4):
        bad = syntax.refused(token, written, ~done)
        if not bool(bad.any()):
            break
        rows = bad.nonzero().squeeze(1)
        logits[rows, token[rows]] = float("-inf")
        left = torch.isfinite(logits[rows]).any(dim=-1)
        rows = rows[left]
        if u is None:
            token[rows] = logits[rows].argmax(dim=-1)
        else:
            token[rows] = inverse_cdf(logits[rows].softmax(dim=-1), u[rows])
    return token


@torch.no_grad()
def decode_tokens(
    model: CVAE,
    z: torch.Tensor,
    c: torch.Tensor,
    settings: SamplingSettings,
    seed: int | None = None,
    rows: torch.Tensor | None = None,
    drop_finished: bool = True,
    syntax: SmilesSyntax | None = None,
    bonus: SourceBonus | None = None,
) -> torch.Tensor:
    """Decode z (B, Z) under c (B, C) -> token ids (B, L) ending in <eos> or cut at max_length.

    Sampled tokens of row i at step t are drawn by inverse CDF from uniforms hash(seed, rows[i],
    t) (`row_uniforms`; rows defaults to 0..B-1, seed None draws one from torch's global RNG),
    so a row's sequence depends on (seed, row index, z, c) alone, not on the batch around it.
    Finished rows are padded with <pad>; the loop stops when every row has emitted <eos>.
    drop_finished=False keeps finished rows in the decoder's state (slower; for measurement).
    settings.guidance != 1 decodes with classifier-free guidance (`GuidedSteps`); `syntax` (one
    row per row of z) masks the tokens that would break SMILES syntax (settings.grammar).
    `bonus` (one row per row of z): transfer's bonus on the input's tokens not yet written,
    added to the logits at every step (`keep.SourceBonus`).
    """
    if settings.grammar and syntax is None:
        raise ValueError("settings.grammar needs the SMILES syntax of the batch (Generator.syntax)")
    model.eval()
    b = z.shape[0]
    device = z.device
    steps = GuidedSteps(model, z, c, settings.guidance)
    token = torch.full((b,), BOS, dtype=torch.long, device=device)
    out = torch.full((b, settings.max_length + 1), PAD, dtype=torch.long, device=device)
    uniforms: torch.Tensor | None = None
    if settings.strategy != "greedy":
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()))
        ids = torch.arange(b, device=device) if rows is None else rows.to(device)
        uniforms = row_uniforms(seed, ids, settings.max_length + 1)
    # Rows still decoding (indices into the batch). Finished rows are dropped from the decoder's
    # state once they are a quarter of it, so late steps cost only what is left to decode.
    active = torch.arange(b, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    for t in range(settings.max_length + 1):
        logits = steps.step(token)
        if bonus is not None:
            logits = logits + bonus.bias()
        logits[:, NEVER_SAMPLED] = float("-inf")
        u: torch.Tensor | None = None
        if uniforms is None:
            if syntax is not None:
                ending = logits.argmax(dim=-1) == EOS
                logits = logits.masked_fill(~syntax.allowed(ending), float("-inf"))
            token = logits.argmax(dim=-1)
        else:
            scaled = logits / settings.temperature
            u = uniforms[active, t]
            if syntax is not None:
                # The model's own draw decides whether the row would end here (then it may only
                # close what is open); the same uniform then draws among the allowed tokens, with
                # top-k / top-p taken over those (never an empty set: the top token stays).
                plain = filter_logits(scaled, settings.top_k, settings.top_p)
                ending = inverse_cdf(plain.softmax(dim=-1), u) == EOS
                scaled = scaled.masked_fill(~syntax.allowed(ending), float("-inf"))
            logits = filter_logits(scaled, settings.top_k, settings.top_p)
            token = inverse_cdf(logits.softmax(dim=-1), u)
        if syntax is not None and syntax.end_check is not None:
            token = _redraw_refused(syntax, logits, token, u, done, out[active, :t])
        token = token.masked_fill(done, PAD)
        out[active, t] = token
        if syntax is not None:
            syntax.advance(token)
        if bonus is not None:
            bonus.consume(token)
        done |= token == EOS
        n_done = int(done.sum())
        if n_done == len(active):
            return out[:, : t + 1]
        if drop_finished and n_done * 4 >= len(active):
            keep = (~done).nonzero().squeeze(1)
            steps.reorder(keep)
            if syntax is not None:
                syntax.reorder(keep)
            if bonus is not None:
                bonus.reorder(keep)
            active, token, done = active[keep], token[keep], done[keep]
    return out
