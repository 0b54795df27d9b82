"""The generate recipe: load a run, check the request against its conditions, sample (checking
SMILES in worker processes while the next batch is sampled), keep the samples that pass the filters
or, with `hits`, draw until that many verified hits are found, write the sample file and summarise
the samples drawn (novelty against a reference set)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqcvae.data.goals import Goal
from seqcvae.errors import ConfigError
from seqcvae.evaluation.summary import summarise
from seqcvae.generation.generator import Generator, Record
from seqcvae.generation.hits import HitSearch, Selection, Selector, find_hits, request_goals
from seqcvae.io.records import sample_format, write_records
from seqcvae.parallel import process_pool

HITS_BUDGET = 200  # default --max-samples: this many samples per hit asked for


@dataclass(frozen=True)
class Generated:
    """What a generate run gives back: the samples kept (all of them without filters; the hits
    with `hits`), the summary of every sample drawn, the time in seconds (sampling and checking),
    the run's kind ("smiles" or "text"), and with `hits` the search (complete or not)."""

    records: list[Record]
    summary: dict[str, Any]
    seconds: float
    kind: str
    search: HitSearch | None = None


def _or(given: Any, default: Any) -> Any:
    """A given value, or the checkpoint's setting where none was given."""
    return default if given is None else given


def _check_text_run(gen: Generator, tolerance: Mapping[str, float], valid_only: bool, novel: bool) -> None:
    """What a text run cannot do: RDKit measures molecules."""
    flags = [
        f for f, on in (("--tolerance", tolerance), ("--valid-only", valid_only), ("--novel", novel)) if on
    ]
    if gen.kind == "text" and flags:
        raise ConfigError(
            f"{', '.join(flags)}: a text run has no RDKit measurements (validity, properties, novelty); "
            "--hits N and --unique work on text"
        )


def _check_goals(gen: Generator, goals: list[Goal], hits: int | None, tolerance: Mapping[str, float]) -> None:
    """Tolerances belong to hits, and a hit's goals must be measurable."""
    if hits is None and tolerance:
        raise ConfigError("--tolerance sets which measured molecules are hits: add --hits N")
    blind = [g.name for g in goals if g.name not in gen.measured_properties()]
    if hits is not None and blind:
        raise ConfigError(
            f"--hits: {blind[0]} cannot be measured with RDKit, so its hits cannot be verified; "
            f"drop -c {blind[0]} or --hits"
        )


def generate(
    checkpoint: str | Path,
    given: Mapping[str, Any],
    *,
    n: int,
    which: str = "best",
    device: str = "cpu",
    seed: int | None = None,
    batch_size: int | None = None,
    strategy: str | None = None,
    beam_size: int | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    guidance: float | None = None,
    length_penalty: float | None = None,
    out: str | None = None,
    reference: str | None = None,
    workers: int = 1,
    hits: int | None = None,
    tolerance: Mapping[str, float] | None = None,
    max_samples: int | None = None,
    valid_only: bool = False,
    unique: bool = False,
    novel: bool = False,
    warn: Callable[[str], None] = print,
) -> Generated:
    """Sample `n` sequences of the run at `checkpoint` under the conditions `given` (NAME: VALUE
    as typed, a continuous one also LOW:HIGH, conditioned at its midpoint); settings left None take
    the checkpoint's [sample] values. Unknown names and tags fail before any work; targets outside
    the training range are passed to `warn`. `out`: the CSV of the samples kept; `reference`: the
    molecules for novelty (default: the run's training set). `workers` processes check SMILES while
    the next batch is sampled (0: here, after each batch).

    valid_only, unique, novel keep the samples that pass. `hits`: instead of n samples, draw batches
    until `hits` samples pass those filters and RDKit measures every continuous target within its
    `tolerance` (default: 5% of the property's training range) or inside its range, or until
    `max_samples` (default HITS_BUDGET x hits) are drawn: `search.complete` says which; the hits
    found are written to `out` either way."""
    gen = Generator.load(checkpoint, which=which, device=device)
    if length_penalty is not None and not beam_size and gen.config.sample.strategy != "beam":
        raise ConfigError(
            f"--length-penalty {length_penalty:g} only ranks beam search hypotheses; add --beam K"
        )
    if out:
        sample_format(out, gen.kind)  # a molecule format for a text run fails before sampling
    tolerance = dict(tolerance or {})
    _check_text_run(gen, tolerance, valid_only, novel)
    request, goals = request_goals(gen.conditions, given, tolerance, gen.measured_properties())
    _check_goals(gen, goals, hits, tolerance)
    smiles = gen.kind == "smiles"
    selection = Selection(
        valid=valid_only or (hits is not None and smiles),
        unique=unique,
        novel=novel,
        goals=tuple(goals) if hits is not None else (),
    )
    for warning in gen.conditions.out_of_range(request):
        warn(warning)
    reference_set = gen.reference_set(reference, workers=max(1, workers)) if reference or novel else None
    if novel and reference_set is None:
        raise ConfigError(
            f"--novel: {str(checkpoint)!r} has no training reference (reference_smiles.txt.gz); "
            "give the molecules to compare with: --reference FILE"
        )
    settings = gen.default_settings(
        strategy=strategy,
        beam_size=beam_size,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        guidance=guidance,
        length_penalty=length_penalty,
    )
    seed = _or(seed, gen.config.sample.seed)
    batch_size = _or(batch_size, gen.config.sample.batch_size)
    budget = max_samples if max_samples is not None else HITS_BUDGET * (hits or 0)
    rows = budget if hits is not None else n
    pooled = workers if smiles and rows > batch_size else 0  # overlap needs a second batch
    selector = Selector(selection, reference_set)
    search = None
    names = (gen.measured_properties(),)
    from seqcvae.chem.properties import prepare_worker

    with process_pool(pooled, prepare_worker, names) as pool:
        t0 = time.perf_counter()
        if hits is not None:
            search = find_hits(
                gen,
                request,
                selector,
                hits,
                max_samples=budget,
                seed=seed,
                batch_size=batch_size,
                settings=settings,
                pool=pool,
            )
            drawn, records, seconds = search.drawn, search.hits, search.seconds
        else:
            batches = gen.generate_batches([request] * n, seed, batch_size, settings, pool=pool)
            drawn = [r for batch in batches for r in batch]
            records = selector.select(drawn) if selection.active else drawn
            seconds = time.perf_counter() - t0
    if out:
        left_out = write_records(out, records, gen.kind, gen.measured_properties())
        if left_out:
            warn(f"{out} holds the valid molecules only: {left_out} invalid samples are not in it")
    summary = summarise(gen, drawn, reference_set)
    if search is not None:
        summary["hits"] = search.as_dict()
    elif selection.active:
        summary["kept"] = {"records": len(records), "of": len(drawn), "selection": selection.describe()}
    return Generated(records, summary, seconds, gen.kind, search)
