"""Transfer by search: each input is decoded along a ladder of decoding settings, from the one that
keeps most of it (a large bonus on its own tokens, light guidance) to the one that follows the
target hardest, and keeps the first output that the model itself places in the target:

    log p(y | z, target) - log p(y | z, source) > margin   (nats, teacher-forced, same z)

so an input that a light edit already carries over keeps most of its words, and only the inputs
that need it get the stronger settings. The last rung is taken when no rung passes. The model is
its own judge (Bayes' rule with the CVAE's conditional likelihoods): no outside classifier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from seqcvae.errors import ConfigError, SeqCVAEError
from seqcvae.generation.keep import SourceBonus, check_keep_mode
from seqcvae.generation.records import Record
from seqcvae.models.cvae import CVAE
from seqcvae.models.losses import reconstruction_nll
from seqcvae.tokenizers.base import BOS, EOS

if TYPE_CHECKING:
    from seqcvae.generation.generator import Generator

# (guidance, keep) rungs, from the most conservative to the strongest, per keep mode; measured on
# Yelp (BENCHMARKS.md, issue 16) but not tuned to it. The ordered bonus copies the input unless
# it is strong enough to copy it whole, so its ladder holds guidance at 3 and lowers the bonus
# 10 -> 0; the bag bonus pulls less, so its ladder trades keep 3 -> 0 against guidance 1.5 -> 3.
DEFAULT_LADDERS: dict[str, tuple[tuple[float, float], ...]] = {
    "order": ((3, 10), (3, 8), (3, 7), (3, 6), (3, 5), (3, 4), (3, 3), (3, 2), (3, 0)),
    "bag": ((1.5, 3), (1.5, 2), (2, 2), (1.5, 1), (2, 1), (2, 0), (3, 0)),
}
DEFAULT_MARGIN = 5.0  # nats


def parse_ladder(text: str) -> tuple[tuple[float, float], ...]:
    """ "W/B,W/B,..." (guidance W > 0, keep bonus B >= 0 per rung) -> rungs; a ConfigError names a
    bad rung."""
    rungs = []
    for item in (part.strip() for part in text.split(",")):
        pieces = item.split("/")
        try:
            w, b = (float(p) for p in pieces) if len(pieces) == 2 else (math.nan, math.nan)
        except ValueError:
            w = b = math.nan
        if not (w > 0 and math.isfinite(w) and b >= 0 and math.isfinite(b)):
            raise ConfigError(
                f"--search rung {item!r}: expected GUIDANCE/KEEP with guidance > 0 and keep >= 0, "
                "e.g. --search 1.5/3,2/1,3/0"
            )
        rungs.append((w, b))
    return tuple(rungs)


def check_margin(margin: float) -> float:
    if math.isnan(margin):
        raise ConfigError(f"--margin {margin}: expected a number of nats (e.g. {DEFAULT_MARGIN:g})")
    return margin


@torch.no_grad()
def sequence_logp(
    model: CVAE, ids: Sequence[Sequence[int]], z: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """log p(<bos> ids <eos> | z, c) per row (N,), teacher-forced; ids without <bos> / <eos>."""
    pad = model.shape.pad_id
    width = max(len(i) for i in ids) + 2
    tokens = torch.full((len(ids), width), pad, dtype=torch.long, device=z.device)
    for row, seq in enumerate(ids):
        tokens[row, : len(seq) + 2] = torch.tensor([BOS, *seq, EOS], device=z.device)
    return -reconstruction_nll(model.decode(tokens[:, :-1], z, c).float(), tokens[:, 1:], pad)


def search_transfer(
    gen: Generator,
    texts: Sequence[str],
    target: Mapping[str, Any],
    source: Sequence[Mapping[str, Any]],
    ladder: Sequence[tuple[float, float]] | None = None,
    margin: float = DEFAULT_MARGIN,
    seed: int = 0,
    keep_mode: str = "order",
    **sampling: Any,
) -> list[Record]:
    """Input i encoded under source[i] and decoded under `target` at each rung of `ladder` in turn
    until the model's margin for the target over source[i] passes `margin` (see the module).
    Each record's extra holds the rung taken (search_guidance, search_keep) and its margin
    (search_margin). `keep_mode`: how each rung's keep bonus reads the input
    (`keep.SourceBonus.of`); `ladder` None: that mode's default (DEFAULT_LADDERS). `sampling`: the
    decoding strategy (greedy by default; a sampled row's draws depend on its place among the rows
    still searching)."""
    ladder = DEFAULT_LADDERS[check_keep_mode(keep_mode)] if ladder is None else ladder
    if not ladder:
        raise SeqCVAEError("the search needs at least one (guidance, keep) rung")
    for name in ("guidance", "keep"):
        if name in sampling:
            raise SeqCVAEError(f"{name} is set by each rung of the search; give it there, not as {name}=")
    check_margin(margin)
    model = gen.model
    z = gen.encode(texts, source).to(gen.device)
    ids = [gen.tokenizer.encode(t) for t in texts]

    c_target = gen.condition_vectors([dict(target)] * len(texts))
    c_source = gen.condition_vectors(source)
    out: list[Record | None] = [None] * len(texts)
    pending = list(range(len(texts)))
    for step, (w, b) in enumerate(ladder):
        rows = torch.tensor(pending, dtype=torch.long)
        zr = z[rows]
        bonus = (
            SourceBonus.of([ids[i] for i in pending], model.shape.vocab_size, b, mode=keep_mode)
            if b > 0
            else None
        )
        recs = gen.decode_latents(
            zr, [dict(target)] * len(pending), seed=seed, bonus=bonus, guidance=w, **sampling
        )
        written = [gen.tokenizer.encode(r.sequence) for r in recs]
        margins = sequence_logp(model, written, zr, c_target[rows]) - sequence_logp(
            model, written, zr, c_source[rows]
        )
        last = step == len(ladder) - 1
        still = []
        for i, rec, m in zip(pending, recs, margins.tolist()):
            if m > margin or last:
                rec.index = i
                rec.extra.update(search_guidance=w, search_keep=b, search_margin=round(m, 3))
                out[i] = rec
            else:
                still.append(i)
        pending = still
        if not pending:
            break
    return [r for r in out if r is not None]
