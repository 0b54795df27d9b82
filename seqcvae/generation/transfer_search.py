"""Transfer by search: each input is decoded along a ladder of decoding settings, from the one that
keeps most of it (a large bonus on its own tokens, light guidance) to the one that follows the
target hardest, and keeps the first output that the model itself places in the target:

    log p(y | z, target) - log p(y | z, source) > margin   (nats, teacher-forced, same z)

so an input that a light edit already carries over keeps most of its words, and only the inputs
that need it get the stronger settings. The last rung is taken when no rung passes. The model is
its own judge (Bayes' rule with the CVAE's conditional likelihoods): no outside classifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from seqcvae.errors import SeqCVAEError
from seqcvae.generation import transfer_settings as settings
from seqcvae.generation.keep import SourceBonus
from seqcvae.generation.records import Record
from seqcvae.generation.transfer_settings import (
    DEFAULT_KEEP_MODE,
    DEFAULT_LADDERS,
    DEFAULT_MARGIN,
    check_keep_mode,
    check_margin,
)
from seqcvae.models.cvae import CVAE
from seqcvae.tokenizers.base import BOS, EOS, Tokenizer
from seqcvae.tokenizers.sentencepiece import SentencePieceTokenizer

if TYPE_CHECKING:
    from seqcvae.generation.generator import Generator


@torch.no_grad()
def token_logp(model: CVAE, ids: Sequence[Sequence[int]], z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(N, T) teacher-forced log p of each token of ids[i] and then of <eos> given z, c and the
    tokens before it (ids without <bos> / <eos>); 0 past a row's <eos>."""
    pad = model.shape.pad_id
    width = max(len(i) for i in ids) + 2
    tokens = torch.full((len(ids), width), pad, dtype=torch.long, device=z.device)
    for row, seq in enumerate(ids):
        tokens[row, : len(seq) + 2] = torch.tensor([BOS, *seq, EOS], device=z.device)
    return -model.decode_nll(tokens[:, :-1], z, c, tokens[:, 1:])


def sequence_logp(
    model: CVAE, ids: Sequence[Sequence[int]], z: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """log p(<bos> ids <eos> | z, c) per row (N,), teacher-forced; ids without <bos> / <eos>."""
    return token_logp(model, ids, z, c).sum(dim=1)


def style_marks(
    model: CVAE, ids: Sequence[Sequence[int]], z: torch.Tensor, c_source: torch.Tensor, c_target: torch.Tensor
) -> list[list[float]]:
    """Per input token, how much more likely the model finds it under the source conditions than
    under the target (nats, teacher-forced on the input, same z): the tokens that mark the source
    style score high, the content near 0."""
    diff = token_logp(model, ids, z, c_source) - token_logp(model, ids, z, c_target)
    return [diff[i, : len(seq)].tolist() for i, seq in enumerate(ids)]


def word_joins(tokenizer: Tokenizer, ids: Sequence[Sequence[int]]) -> list[list[bool]] | None:
    """Per input token, whether it continues the word of the token before it (SentencePiece
    pieces); None for tokenizers whose every token stands alone (SMILES, SELFIES)."""
    if not isinstance(tokenizer, SentencePieceTokenizer):
        return None
    return [tokenizer.joins(seq) for seq in ids]


def style_scale(
    model: CVAE,
    ids: Sequence[Sequence[int]],
    z: torch.Tensor,
    c_source: torch.Tensor,
    c_target: torch.Tensor,
    joins: Sequence[Sequence[bool]] | None = None,
) -> list[list[float]]:
    """The keep bonus's share per input token for keep mode "style": none for the tokens that mark
    the source style by more than STYLE_MARK nats (`style_marks`), the whole of it for the rest;
    with `joins` (`word_joins`), a word is marked whole when any of its pieces is."""
    marks = style_marks(model, ids, z, c_source, c_target)
    scales = []
    for k, row in enumerate(marks):
        free = [m > settings.STYLE_MARK for m in row]
        if joins is not None:
            word, words = 0, []
            for t in range(len(row)):
                word += 0 if (t == 0 or joins[k][t]) else 1
                words.append(word)
            marked = {w for w, f in zip(words, free) if f}
            free = [w in marked for w in words]
        scales.append([0.0 if f else 1.0 for f in free])
    return scales


def keep_bonus(
    gen: Generator,
    texts: Sequence[str],
    z: torch.Tensor,
    source: Sequence[Mapping[str, Any]],
    target: Mapping[str, Any],
    weight: float,
    mode: str,
) -> SourceBonus:
    """Transfer's keep bonus on the inputs (encoded as z under their `source` conditions) for a
    decoding under `target`, in keep mode `mode` (`keep.SourceBonus.of`)."""
    ids = [gen.tokenizer.encode(t) for t in texts]
    joins = word_joins(gen.tokenizer, ids)
    scale = None
    if mode == "style":
        c_source = gen.condition_vectors(source)
        c_target = gen.condition_vectors([dict(target)] * len(texts))
        scale = style_scale(gen.model, ids, z.to(gen.device), c_source, c_target, joins)
    return SourceBonus.of(ids, gen.model.shape.vocab_size, weight, mode=mode, scale=scale, joins=joins)


def search_transfer(
    gen: Generator,
    texts: Sequence[str],
    target: Mapping[str, Any],
    source: Sequence[Mapping[str, Any]],
    ladder: Sequence[tuple[float, float]] | None = None,
    margin: float = DEFAULT_MARGIN,
    seed: int = 0,
    keep_mode: str = DEFAULT_KEEP_MODE,
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
    joins = word_joins(gen.tokenizer, ids)
    scale = style_scale(model, ids, z, c_source, c_target, joins) if keep_mode == "style" else None
    out: list[Record | None] = [None] * len(texts)
    pending = list(range(len(texts)))
    for step, (w, b) in enumerate(ladder):
        rows = torch.tensor(pending, dtype=torch.long)
        zr = z[rows]
        bonus = (
            SourceBonus.of(
                [ids[i] for i in pending],
                model.shape.vocab_size,
                b,
                mode=keep_mode,
                scale=None if scale is None else [scale[i] for i in pending],
                joins=None if joins is None else [joins[i] for i in pending],
            )
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
