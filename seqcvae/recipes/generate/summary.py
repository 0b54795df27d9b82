"""One request's line of a generate run's summary: validity, uniqueness, novelty and per measured
target the mean, std, MAE and hit rate (SMILES), or diversity, style accuracy and a few examples
(text), with its hits or the samples kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from seqcvae.evaluation.style import fit_style_classifier
from seqcvae.evaluation.summary import set_summary, text_summary
from seqcvae.generation.generator import Generator
from seqcvae.generation.hits import HitSearch, Selection
from seqcvae.generation.records import Record
from seqcvae.recipes.generate.targets import Target
from seqcvae.sweep.summary import property_stats

if TYPE_CHECKING:
    from seqcvae.text.metrics import StyleClassifier

EXAMPLES = 3  # text runs: samples shown per request


def request_summary(
    gen: Generator,
    k: int,
    target: Target,
    drawn: Sequence[Record],
    kept: Sequence[Record],
    reference: set[str] | None,
    search: HitSearch | None,
    selection: Selection,
    style: StyleClassifier | None = None,
) -> dict[str, Any]:
    """One request's line of the summary: its targets, samples drawn (and hits or samples kept),
    for SMILES validity, uniqueness, novelty and per measured continuous target the mean, std, MAE
    and hit rate within its tolerance over the valid samples (sweep.summary.property_stats); for
    text uniqueness, distinct-1/2, the style accuracy of each tag it sets (by `style`, the run's
    classifier) and its first EXAMPLES samples."""
    out: dict[str, Any] = {"target_index": k, "targets": dict(target.request), "n": len(drawn)}
    ranges = {g.name: [g.low, g.high] for g in target.goals if g.name in target.ranges}
    if ranges:
        out["ranges"] = ranges  # a range's target is its midpoint
    if search is not None:
        out["hits"] = search.as_dict()
    elif selection.active:
        out["kept"] = len(kept)
    if gen.kind != "smiles":
        diversity = text_summary([r.sequence for r in drawn])
        out.update({key: diversity[key] for key in ("uniqueness", "distinct_1", "distinct_2")})
        out.update(style_accuracy(style, target.request, drawn))
        out["examples"] = [r.sequence for r in drawn[:EXAMPLES]]
        return out
    sets = set_summary(drawn, reference)
    out.update({key: sets[key] for key in ("validity", "uniqueness", "novelty")})
    names = list(target.scored)
    goal = {name: t for name, (t, _) in target.scored.items()}
    tol = {name: tol for name, (_, tol) in target.scored.items()}
    out["tolerance"] = tol
    out.update(property_stats(names, goal, tol, [r for r in drawn if r.valid]))
    return out


def style_accuracy(
    style: StyleClassifier | None, request: Mapping[str, Any], drawn: Sequence[Record]
) -> dict[str, Any]:
    """{"style_accuracy": {tag: fraction of the samples the classifier gives the asked value}} for
    the tags a text request sets; {} without a classifier or a tag."""
    tags = {k: v for k, v in request.items() if style is not None and k in style.models}
    if style is None or not tags or not drawn:
        return {}
    texts = [r.sequence for r in drawn]
    return {"style_accuracy": style.accuracy(texts, {k: [v] * len(texts) for k, v in tags.items()})}


def style_classifier(gen: Generator, targets: Sequence[Target]) -> StyleClassifier | None:
    """A text run's style classifier for the tags its requests set (trained on the run's training
    file; None for SMILES runs, requests without tags, or a training file that is gone)."""
    if gen.kind != "text":
        return None
    tags = {c.name for c in gen.conditions.categorical}
    asked = sorted({k for t in targets for k in t.request if k in tags})
    return fit_style_classifier(gen, asked) if asked else None
