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
from typing import TYPE_CHECKING, Any

from seqcvae.data.goals import Goal, is_range, not_a_property
from seqcvae.data.requests import FLAG, RequestFile, expand_lists, merged, read_requests
from seqcvae.errors import ConfigError, SeqCVAEError
from seqcvae.evaluation.style import fit_style_classifier
from seqcvae.evaluation.summary import set_summary, summarise, text_summary
from seqcvae.generation.generator import Generator, Record
from seqcvae.generation.hits import HitSearch, Selection, Selector, find_hits, request_goals
from seqcvae.io.records import sample_format, write_records
from seqcvae.parallel import process_pool
from seqcvae.sweep.summary import property_stats

if TYPE_CHECKING:
    from seqcvae.text.metrics import StyleClassifier

HITS_BUDGET = 200  # default --max-samples: this many samples per hit asked for
OUT_OF_RANGE_SHOWN = 3  # out-of-range warnings shown for a request file; the rest are counted
EXAMPLES = 3  # text runs: samples shown per request


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


@dataclass(frozen=True)
class Target:
    """One request of a run: the request conditioned on, its goals, how many samples (or hits) it
    gets, and each measured continuous target with the tolerance it is scored within."""

    request: dict[str, Any]
    goals: list[Goal]
    count: int
    scored: dict[str, tuple[float, float]]  # name -> (target, tolerance)
    where: str = ""  # in the request file ("" without one)
    ranges: tuple[str, ...] = ()  # the conditions given as LOW:HIGH


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


def _scored(
    gen: Generator, given: Mapping[str, Any], goals: list[Goal], tolerance: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """The measured continuous targets of a request, each with the tolerance its hit rate is
    scored within: the given one or 5% of the training range; for a range, its half-width around
    its midpoint."""
    if gen.kind != "smiles":
        return {}
    measured = set(gen.measured_properties())
    cont = {c.name: c for c in gen.conditions.continuous}
    out: dict[str, tuple[float, float]] = {}
    for g in goals:
        if g.name not in measured:
            continue
        if is_range(given[g.name]):
            out[g.name] = (g.condition, (g.high - g.low) / 2)
        else:
            out[g.name] = (g.condition, tolerance.get(g.name, cont[g.name].default_tolerance()))
    return out


def _targets(
    gen: Generator,
    given: Mapping[str, Any],
    file: RequestFile | None,
    tolerance: Mapping[str, float],
    hits: int | None,
    count: int,
) -> list[Target]:
    """The request of `given` (the -c conditions), or with a request file one per row: its
    conditions over the -c ones, checked as -c values are (errors name the file and the row)."""
    measurable = gen.measured_properties()
    if file is None:
        request, goals = request_goals(gen.conditions, given, tolerance, measurable)
        _check_goals(gen, goals, hits, tolerance)
        return [Target(request, goals, count, _scored(gen, given, goals, tolerance))]
    file.check_columns(gen.conditions.names)
    request_goals(gen.conditions, given, {}, measurable)  # a bad -c value is an error about -c
    _check_goals(gen, [], hits, tolerance)
    rows = [merged(given, row) for row in file.rows]
    cont = [c.name for c in gen.conditions.continuous]
    for name, tol in tolerance.items():
        if name not in cont:
            raise ConfigError(f"--tolerance {name}={tol:g}: {not_a_property(name, cont)}")
        if not any(name in r for r in rows):
            raise ConfigError(
                f"--tolerance {name}={tol:g}: no request sets {name}; add a {name} column to {FLAG} "
                f"or -c {name}=VALUE"
            )
    targets = []
    for row, req in zip(file.rows, rows):
        own = {k: v for k, v in tolerance.items() if k in req}
        try:
            request, goals = request_goals(gen.conditions, req, own, measurable)
            _check_goals(gen, goals, hits, own)
        except SeqCVAEError as exc:
            raise type(exc)(file.error(row, exc)) from None
        n = count if row.n is None else row.n
        ranges = tuple(k for k, v in req.items() if is_range(v))
        targets.append(Target(request, goals, n, _scored(gen, req, goals, own), row.where, ranges))
    return targets


def _warn_out_of_range(
    gen: Generator, targets: Sequence[Target], warn: Callable[[str], None], flag: str = FLAG
) -> None:
    """The targets outside the training range; of a request file (or -c lists), the first few and a
    count."""
    if len(targets) == 1 and not targets[0].where:
        for warning in gen.conditions.out_of_range(targets[0].request):
            warn(warning)
        return
    prefix = f"{FLAG} " if flag == FLAG else ""
    warnings = [f"{prefix}{t.where}: {w}" for t in targets for w in gen.conditions.out_of_range(t.request)]
    for warning in warnings[:OUT_OF_RANGE_SHOWN]:
        warn(warning)
    if len(warnings) > OUT_OF_RANGE_SHOWN:
        warn(f"{flag}: {len(warnings) - OUT_OF_RANGE_SHOWN} more targets are outside the training range")


def _request_summary(
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
        out.update(_style(style, target.request, drawn))
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


def _style(
    style: StyleClassifier | None, request: Mapping[str, Any], drawn: Sequence[Record]
) -> dict[str, Any]:
    """{"style_accuracy": {tag: fraction of the samples the classifier gives the asked value}} for
    the tags a text request sets; {} without a classifier or a tag."""
    tags = {k: v for k, v in request.items() if style is not None and k in style.models}
    if style is None or not tags or not drawn:
        return {}
    texts = [r.sequence for r in drawn]
    return {"style_accuracy": style.accuracy(texts, {k: [v] * len(texts) for k, v in tags.items()})}


def _style_classifier(gen: Generator, targets: Sequence[Target]) -> StyleClassifier | None:
    """A text run's style classifier for the tags its requests set (trained on the run's training
    file; None for SMILES runs, requests without tags, or a training file that is gone)."""
    if gen.kind != "text":
        return None
    tags = {c.name for c in gen.conditions.categorical}
    asked = sorted({k for t in targets for k in t.request if k in tags})
    return fit_style_classifier(gen, asked) if asked else None


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
    targets = _targets(gen, given, file, tolerance, hits, n if hits is None else hits)
    smiles = gen.kind == "smiles"

    def selection_of(goals: Sequence[Goal]) -> Selection:
        return Selection(
            valid=valid_only or (hits is not None and smiles),
            unique=unique,
            novel=novel,
            goals=tuple(goals) if hits is not None else (),
        )

    selection = selection_of(())
    _warn_out_of_range(gen, targets, warn, file.flag if file is not None else FLAG)
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
    style = _style_classifier(gen, targets)
    if file is None and style is not None:
        summary.update(_style(style, targets[0].request, every))
    if file is not None:
        novelty_reference = reference_set if reference_set is not None or not smiles else gen.reference_set()
        summary["requests"] = [
            _request_summary(
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
