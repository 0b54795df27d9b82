"""The generate recipe: load a run, check the request (or each request of a request file) against
its conditions, sample (checking SMILES in worker processes while the next batch is sampled), keep
the samples that pass the filters or, with `hits`, draw until that many verified hits are found,
write the sample file and summarise the samples drawn (novelty against a reference set), and with a
request file each request's samples."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqcvae.data.goals import Goal
from seqcvae.data.requests import FLAG, expand_lists, read_requests
from seqcvae.errors import ConfigError
from seqcvae.evaluation.summary import summarise
from seqcvae.generation.generator import Generator
from seqcvae.generation.hits import HitSearch, Selection, Selector, find_hits
from seqcvae.generation.records import Record
from seqcvae.io.records import sample_format, write_records
from seqcvae.parallel import process_pool
from seqcvae.recipes.generate.summary import request_summary, style_accuracy, style_classifier
from seqcvae.recipes.generate.targets import Target, build_targets, warn_out_of_range

HITS_BUDGET = 200  # default --max-samples: this many samples per hit asked for


@dataclass(frozen=True)
class Generated:
    """What a generate run gives back: the samples kept (all of them without filters; the hits
    with `hits`), the summary of every sample drawn, the time in seconds (sampling and checking),
    the run's kind ("smiles" or "text"), and with `hits` the search (complete or not; for a request
    file, all its searches as one) and each request's search (`searches`, in request order; fewer
    than the requests when interrupted). With a request file, `target_index` gives each record's
    request and summary["requests"] each request's summary."""

    records: list[Record]
    summary: dict[str, Any]
    seconds: float
    kind: str
    search: HitSearch | None = None
    searches: list[HitSearch] = field(default_factory=list)
    target_index: list[int] | None = None


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


def _combined(searches: Sequence[HitSearch], targets: Sequence[Target], selection: Selection) -> HitSearch:
    """A request file's searches as one: every hit and sample, the hits wanted of every request."""
    return HitSearch(
        [r for s in searches for r in s.hits],
        [r for s in searches for r in s.drawn],
        sum(t.count for t in targets),
        sum(s.max_samples for s in searches),
        sum(s.seconds for s in searches),
        any(s.interrupted for s in searches),
        [*selection.describe(), "each request's goals"],
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
    latent_temperature: float | None = None,
    grammar: bool | None = None,
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
    requests: str | Path | None = None,
    progress: bool = False,
    warn: Callable[[str], None] = print,
) -> Generated:
    """Sample `n` sequences of the run at `checkpoint` under the conditions `given` (NAME: VALUE
    as typed, a continuous one also LOW:HIGH, conditioned at its midpoint); settings left None take
    the checkpoint's [sample] values. Unknown names and tags fail before any work; targets outside
    the training range are passed to `warn`. `out`: the file of the samples kept; `reference`: the
    molecules for novelty (default: the run's training set). `workers` processes check SMILES while
    the next batch is sampled (0: here, after each batch).

    valid_only, unique, novel keep the samples that pass. `hits`: instead of n samples, draw batches
    until `hits` samples pass those filters and RDKit measures every continuous target within its
    `tolerance` (default: 5% of the property's training range) or inside its range, or until
    `max_samples` (default HITS_BUDGET x hits) are drawn: `search.complete` says which; the hits
    found are written to `out` either way.

    `requests`: a request file (data.requests), one target per row over the `given` conditions
    (which apply to every row that does not set them), each with its own n (default `n`; with
    `hits`, its number of hits, default `hits`). Without hits every row's samples are drawn in
    mixed batches by one call; with hits each request is searched in turn (seed + its
    target_index, as a sweep's targets; `max_samples` per request). Filters apply per request.
    Every record's index counts within its request. `progress`: a progress bar on stderr (tqdm; off
    when stderr is not a terminal)."""
    file = read_requests(requests) if requests is not None else None
    single, lists = expand_lists(given)
    if lists is not None:
        if file is not None:
            raise ConfigError(
                f"-c {lists.columns[0]}={given[lists.columns[0]]}: a list of values and {FLAG} together; "
                "put the values in the request file"
            )
        given, file = single, lists
    gen = Generator.load(checkpoint, which=which, device=device)
    if length_penalty is not None and not beam_size and gen.config.sample.strategy != "beam":
        raise ConfigError(
            f"--length-penalty {length_penalty:g} only ranks beam search hypotheses; add --beam K"
        )
    if out:
        sample_format(out, gen.kind)  # a molecule format for a text run fails before sampling
    tolerance = dict(tolerance or {})
    _check_text_run(gen, tolerance, valid_only, novel)
    targets = build_targets(gen, given, file, tolerance, hits, n if hits is None else hits)
    smiles = gen.kind == "smiles"

    def selection_of(goals: Sequence[Goal]) -> Selection:
        return Selection(
            valid=valid_only or (hits is not None and smiles),
            unique=unique,
            novel=novel,
            goals=tuple(goals) if hits is not None else (),
        )

    selection = selection_of(())
    warn_out_of_range(gen, targets, warn, file.flag if file is not None else FLAG)
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
        latent_temperature=latent_temperature,
        grammar=grammar,
        length_penalty=length_penalty,
    )
    seed = _or(seed, gen.config.sample.seed)
    batch_size = _or(batch_size, gen.config.sample.batch_size)
    budgets = [max_samples if max_samples is not None else HITS_BUDGET * t.count for t in targets]
    rows = sum(budgets) if hits is not None else sum(t.count for t in targets)
    pooled = workers if smiles and rows > batch_size else 0  # overlap needs a second batch
    searches: list[HitSearch] = []
    drawn_per: list[list[Record]] = []
    kept_per: list[list[Record]] = []
    names = (gen.measured_properties(),)
    from tqdm import tqdm

    from seqcvae.chem.properties import prepare_worker

    bar = tqdm(
        total=sum(t.count for t in targets),
        unit="hit" if hits is not None else "sample",
        desc="hits" if hits is not None else "generate",
        disable=None if progress else True,  # None: off when stderr is not a terminal
        dynamic_ncols=True,
        leave=False,
    )
    with bar, process_pool(pooled, prepare_worker, names) as pool:
        t0 = time.perf_counter()
        if hits is not None:
            sampled = 0

            def advance(samples: int, found: int) -> None:
                nonlocal sampled
                sampled += samples
                bar.set_postfix_str(f"{sampled} samples", refresh=False)
                bar.update(found)

            for k, (target, budget) in enumerate(zip(targets, budgets)):
                search = find_hits(
                    gen,
                    target.request,
                    Selector(selection_of(target.goals), reference_set),
                    target.count,
                    max_samples=budget,
                    seed=seed + k,  # per request, as a sweep's targets: requests draw apart
                    batch_size=batch_size,
                    settings=settings,
                    pool=pool,
                    progress=advance,
                )
                searches.append(search)
                drawn_per.append(search.drawn)
                kept_per.append(search.hits)
                if search.interrupted:
                    break
            seconds = sum(s.seconds for s in searches)
        else:
            flat = [t.request for t in targets for _ in range(t.count)]
            drawn: list[Record] = []
            for batch in gen.generate_batches(flat, seed, batch_size, settings, pool=pool):
                drawn.extend(batch)
                bar.update(len(batch))
            start = 0
            for target in targets:
                part = drawn[start : start + target.count]
                if file is not None:
                    for rec in part:
                        rec.index -= start  # counted within its request
                start += target.count
                drawn_per.append(part)
                selector = Selector(selection, reference_set)
                kept_per.append(selector.select(part) if selection.active else part)
            seconds = time.perf_counter() - t0
    records = [r for part in kept_per for r in part]
    target_index = [k for k, part in enumerate(kept_per) for _ in part] if file is not None else None
    if out:
        measured = gen.measured_properties()
        left_out = write_records(out, records, gen.kind, measured, target_index=target_index)
        if left_out:
            warn(f"{out} holds the valid molecules only: {left_out} invalid samples are not in it")
    every = [r for part in drawn_per for r in part]
    summary = summarise(gen, every, reference_set)
    overall = None
    if hits is not None:
        overall = searches[0] if file is None else _combined(searches, targets, selection)
        summary["hits"] = overall.as_dict()
    elif selection.active:
        summary["kept"] = {"records": len(records), "of": len(every), "selection": selection.describe()}
    style = style_classifier(gen, targets)
    if file is None and style is not None:
        summary.update(style_accuracy(style, targets[0].request, every))
    if file is not None:
        novelty_reference = reference_set if reference_set is not None or not smiles else gen.reference_set()
        summary["requests"] = [
            request_summary(
                gen,
                k,
                targets[k],
                drawn_per[k],
                kept_per[k],
                novelty_reference,
                searches[k] if searches else None,
                selection,
                style,
            )
            for k in range(len(drawn_per))
        ]
    return Generated(records, summary, seconds, gen.kind, overall, searches, target_index)
