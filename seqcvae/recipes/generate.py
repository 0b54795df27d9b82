"""The generate recipe: load a run, check the request against its conditions, sample, write the
sample file and summarise the samples (novelty against a reference set)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqcvae.errors import ConfigError
from seqcvae.evaluation.summary import summarise
from seqcvae.generation.generator import Generator, Record
from seqcvae.io.records import sample_format, write_records


@dataclass(frozen=True)
class Generated:
    """What a generate run gives back: the samples, their summary, the sampling time in seconds and
    the run's kind ("smiles" or "text")."""

    records: list[Record]
    summary: dict[str, Any]
    seconds: float
    kind: str


def _or(given: Any, default: Any) -> Any:
    """A given value, or the checkpoint's setting where none was given."""
    return default if given is None else given


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
    warn: Callable[[str], None] = print,
) -> Generated:
    """Sample `n` sequences of the run at `checkpoint` under the conditions `given` (NAME: VALUE
    as typed); settings left None take the checkpoint's [sample] values. Unknown names and tags
    fail before any work; targets outside the training range are passed to `warn`. `out`: the CSV
    of the samples; `reference`: the molecules for novelty (default: the run's training set)."""
    gen = Generator.load(checkpoint, which=which, device=device)
    if length_penalty is not None and not beam_size and gen.config.sample.strategy != "beam":
        raise ConfigError(
            f"--length-penalty {length_penalty:g} only ranks beam search hypotheses; add --beam K"
        )
    if out:
        sample_format(out, gen.kind)  # a molecule format for a text run fails before sampling
    request = gen.conditions.canonical_request(given)
    for warning in gen.conditions.out_of_range(request):
        warn(warning)
    t0 = time.perf_counter()
    records = gen.generate(
        request,
        n=n,
        seed=_or(seed, gen.config.sample.seed),
        batch_size=_or(batch_size, gen.config.sample.batch_size),
        strategy=strategy,
        beam_size=beam_size,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        guidance=guidance,
        length_penalty=length_penalty,
    )
    seconds = time.perf_counter() - t0
    if out:
        left_out = write_records(out, records, gen.kind, gen.measured_properties())
        if left_out:
            warn(f"{out} holds the valid molecules only: {left_out} invalid samples are not in it")
    reference_set = gen.reference_set(reference, workers=workers) if reference else None
    return Generated(records, summarise(gen, records, reference_set), seconds, gen.kind)
