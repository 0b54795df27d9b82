"""The transfer recipe: the input sequences (given, or read from a file's column), re-decoded under
the target conditions, and the sample file with each input beside its output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqcvae.data.tables import read_input_rows
from seqcvae.errors import SeqCVAEError
from seqcvae.evaluation.style import fit_style_classifier
from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from seqcvae.generation.transfer_settings import DEFAULT_KEEP_MODE
from seqcvae.io.records import sample_format, write_records


def read_inputs(
    texts: Sequence[str] | None,
    input_path: str | None,
    column: str | None,
    sequence_column: str,
    tag_names: Sequence[str] = (),
) -> tuple[list[str], list[dict[str, str]]]:
    """The sequences to transfer (`texts`, then those of the `input_path` file; at least one) and
    each one's own tags where the file has a column named after a tag field (empty cells: unknown)."""
    out = list(texts or [])
    tags: list[dict[str, str]] = [{} for _ in out]
    if input_path:
        seqs, kept = read_input_rows(input_path, column, sequence_column, tag_names)
        out += seqs
        tags += [{name: kept[name][i] for name in kept if kept[name][i].strip()} for i in range(len(seqs))]
    if not out:
        raise SeqCVAEError("give sequences to transfer with --text '...' (repeatable) or --input FILE")
    return out, tags


@dataclass(frozen=True)
class Transferred:
    """Every (input, target) pair in order, target by target: the inputs, their outputs, and for a
    text run judged by its style classifier the share of outputs it assigns each target's tags
    (`accuracy`: "sentiment=pos" -> share; empty without a classifier)."""

    sources: list[str]
    records: list[Record]
    accuracy: dict[str, float] = field(default_factory=dict)


def transfer(
    checkpoint: str | Path,
    target: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    source: Mapping[str, Any] | None = None,
    *,
    texts: Sequence[str] | None = None,
    input_path: str | None = None,
    column: str | None = None,
    which: str = "best",
    device: str = "cpu",
    seed: int | None = None,
    sample: bool = False,
    beam: int = 0,
    guidance: float | None = None,
    keep: float = 0.0,
    keep_mode: str = DEFAULT_KEEP_MODE,
    search: Sequence[tuple[float, float]] | None = None,
    margin: float | None = None,
    out: str | None = None,
    judge: bool = True,
) -> Transferred:
    """Re-decode the inputs (`texts`, then the `input_path` file's `column`) of the run at
    `checkpoint` under each of the `target` conditions (one request or several), from their
    source conditions where known (`source` for all of them, else a tag column of the file named
    like the tag field); greedy, sampled with `seed` (default: the checkpoint's sample.seed) or
    by beam search over `beam` hypotheses, with classifier-free `guidance` over the targets
    (default: the checkpoint's sample.guidance); `keep` > 0: a bonus on the logits of the input's
    own tokens, so the output reuses its words (`keep_mode` "style", the default: in the input's
    order, but not the words that carry its style; "order": in the input's order; "bag": any input
    token not yet written); `search`: (guidance, keep) rungs tried in turn
    until the model places the output in the target by `margin` nats (Generator.transfer).
    Each output records the input's known tags (source_<tag>) and, for a text run whose training
    file can be read (`judge`), the style classifier's verdict (style_<tag>). `out`: the file of
    the outputs (its extension picks the format, seqcvae.io.records.SAMPLE_FORMATS)."""
    gen = Generator.load(checkpoint, which=which, device=device)
    if out:
        sample_format(out, gen.kind)  # a molecule format for a text run fails before any work
    targets = [target] if isinstance(target, Mapping) else list(target)
    if not targets:
        raise SeqCVAEError("give at least one target, e.g. -c sentiment=pos")
    requests = [gen.conditions.canonical_request(t) for t in targets]
    fixed = gen.conditions.canonical_request(source or {})
    tag_names = [c.name for c in gen.conditions.categorical]
    inputs, file_tags = read_inputs(texts, input_path, column, gen.config.data.sequence_column, tag_names)
    own = [gen.conditions.canonical_request({**tags, **fixed}) for tags in file_tags]
    judged = sorted({k for r in requests for k in r if k in tag_names})
    clf = fit_style_classifier(gen, judged) if judge and gen.kind == "text" and judged else None
    sources: list[str] = []
    records: list[Record] = []
    accuracy: dict[str, float] = {}
    decoding: dict[str, Any] = {"strategy": "beam" if beam else "sample" if sample else "greedy"}
    if beam:
        decoding["beam_size"] = beam
    if guidance is not None:
        decoding["guidance"] = guidance
    for request in requests:
        recs = gen.transfer(
            inputs,
            request,
            own if any(own) else None,
            seed=gen.config.sample.seed if seed is None else seed,
            keep=keep,
            keep_mode=keep_mode,
            search=search,
            margin=margin,
            **decoding,
        )
        for rec, known in zip(recs, own):
            rec.extra.update({f"source_{k}": v for k, v in known.items() if k in tag_names})
        if clf is not None:
            for name in (k for k in judged if k in request):
                verdicts = clf.predict([r.sequence for r in recs], name) or []
                for rec, verdict in zip(recs, verdicts):
                    rec.extra[f"style_{name}"] = verdict
                label = ", ".join(f"{k}={v}" for k, v in request.items())
                hits = sum(v == str(request[name]) for v in verdicts)
                accuracy[label if len(judged) == 1 else f"{label} ({name})"] = hits / max(1, len(verdicts))
        for rec in recs:
            rec.index = len(records)
            records.append(rec)
        sources += inputs
    if out:
        extra = sorted({k for r in records for k in r.extra})
        write_records(out, records, gen.kind, gen.measured_properties(), sources=sources, extra=extra)
    return Transferred(sources, records, accuracy)
