"""The MOSES metric assembly: a generated set against reference sets and a training set."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from seqcvae.chem.moses.fcd import fcd_distance
from seqcvae.chem.moses.features import PROPERTY_METRICS, canonical_chunk
from seqcvae.chem.moses.setstats import SetStats, set_stats
from seqcvae.parallel import map_chunks
from seqcvae.stats import agg_tanimoto, cosine_similarity, wasserstein_1d, weighted_mean


def internal_diversity(stats: SetStats, p: int = 1) -> float:
    sims = agg_tanimoto(stats.fps, stats.fps, agg="mean", p=p, ref_weights=stats.weights)
    return 1.0 - weighted_mean(sims, stats.weights)


def compare_sets(gen: SetStats, ref: SetStats, device: str = "cpu") -> dict[str, float]:
    """FCD, SNN, Frag, Scaf and the property Wasserstein distances of gen against ref."""
    out: dict[str, float] = {"FCD": math.nan}
    if gen.fcd is not None and ref.fcd is not None:
        out["FCD"] = fcd_distance(ref.fcd, gen.fcd, device)
    snn = agg_tanimoto(ref.fps, gen.fps, agg="max") if len(ref.fps) else np.full(len(gen.fps), math.nan)
    out["SNN"] = weighted_mean(snn, gen.weights)
    out["Frag"] = cosine_similarity(ref.fragments, gen.fragments)
    out["Scaf"] = cosine_similarity(ref.scaffolds, gen.scaffolds)
    for name in PROPERTY_METRICS:
        out[name] = wasserstein_1d(ref.properties[name], gen.properties[name], ref.weights, gen.weights)
    return out


def molecule_metrics(
    generated: Sequence[str],
    references: Mapping[str, Sequence[str] | SetStats] | None = None,
    train: Iterable[str] | None = None,
    ks: Sequence[int] = (1000, 10000),
    workers: int = 1,
    fcd: bool = True,
    device: str = "cpu",
) -> dict[str, float]:
    """MOSES metrics of generated SMILES (see seqcvae.chem.moses for each definition).

    references: name -> SMILES (or precomputed `set_stats`), e.g. {"Test": test, "TestSF": scaffold
    test}; gives FCD/<name>, SNN/<name>, Frag/<name>, Scaf/<name>, and the property distances
    against the first one (as MOSES against its test set). train: training SMILES for Novelty.
    Keys and order are those of MOSES's get_all_metrics.
    """
    if not len(generated):
        raise ValueError("no generated SMILES to evaluate")
    references = dict(references or {})
    canonical = map_chunks(canonical_chunk, generated, chunk_size=2000, workers=workers)
    valid = [c for c in canonical if c is not None]
    out: dict[str, float] = {"valid": len(valid) / len(generated)}
    for k in ks:
        head = valid[:k]
        out[f"unique@{k}"] = len(set(head)) / len(head) if head else math.nan
    if not valid:  # every other metric is undefined
        names = [f"{m}/{r}" for r in references for m in ("FCD", "SNN", "Frag", "Scaf")]
        names += ["IntDiv", "IntDiv2", "Filters"]
        names += list(PROPERTY_METRICS) if references else []
        names += ["Novelty"] if train is not None else []
        return {**out, **dict.fromkeys(names, math.nan)}
    gen = set_stats(valid, workers=workers, fcd=fcd and bool(references), device=device)
    properties: dict[str, float] = {}
    for i, (name, ref) in enumerate(references.items()):
        if not isinstance(ref, SetStats):
            ref = set_stats(list(ref), workers=workers, fcd=fcd, device=device)
        compared = compare_sets(gen, ref, device=device)
        for metric in ("FCD", "SNN", "Frag", "Scaf"):
            out[f"{metric}/{name}"] = compared[metric]
        if i == 0:
            properties = {k: compared[k] for k in PROPERTY_METRICS}
    out["IntDiv"] = internal_diversity(gen, p=1)
    out["IntDiv2"] = internal_diversity(gen, p=2)
    out["Filters"] = weighted_mean(gen.passes.astype(np.float64), gen.weights)
    out.update(properties)
    if train is not None:
        train_set = train if isinstance(train, (set, frozenset)) else set(train)
        distinct = set(valid)
        out["Novelty"] = sum(1 for s in distinct if s not in train_set) / len(distinct)
    return out
