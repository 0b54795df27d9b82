"""The transfer recipe: the input sequences (given, or read from a file's column), re-decoded under
the target conditions, and the sample file with each input beside its output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqcvae.data.tables import read_input_column
from seqcvae.errors import SeqCVAEError
from seqcvae.generation.generator import Generator, Record
from seqcvae.io.records import sample_format, write_records


def read_inputs(
    texts: Sequence[str] | None, input_path: str | None, column: str | None, sequence_column: str
) -> list[str]:
    """The sequences to transfer: `texts`, then those of the `input_path` file; at least one."""
    out = list(texts or [])
    if input_path:
        out += read_input_column(input_path, column, sequence_column)
    if not out:
        raise SeqCVAEError("give sequences to transfer with --text '...' (repeatable) or --input FILE")
    return out


@dataclass(frozen=True)
class Transferred:
    """The inputs and, in the same order, their outputs."""

    sources: list[str]
    records: list[Record]


def transfer(
    checkpoint: str | Path,
    target: Mapping[str, Any],
    source: Mapping[str, Any] | None = None,
    *,
    texts: Sequence[str] | None = None,
    input_path: str | None = None,
    column: str | None = None,
    which: str = "best",
    device: str = "cpu",
    seed: int | None = None,
    sample: bool = False,
    out: str | None = None,
) -> Transferred:
    """Re-decode the inputs (`texts`, then the `input_path` file's `column`) of the run at
    `checkpoint` under the `target` conditions, from their `source` conditions where known; greedy,
    or sampled with `seed` (default: the checkpoint's sample.seed). `out`: the file of the outputs
    (its extension picks the format, seqcvae.io.records.SAMPLE_FORMATS)."""
    gen = Generator.load(checkpoint, which=which, device=device)
    if out:
        sample_format(out, gen.kind)  # a molecule format for a text run fails before any work
    target_request = gen.conditions.canonical_request(target)
    source_request = gen.conditions.canonical_request(source or {})
    sources = read_inputs(texts, input_path, column, gen.config.data.sequence_column)
    records = gen.transfer(
        sources,
        target_request,
        source_request or None,
        seed=gen.config.sample.seed if seed is None else seed,
        strategy="sample" if sample else "greedy",
    )
    if out:
        write_records(out, records, gen.kind, gen.measured_properties(), sources=sources)
    return Transferred(sources, records)
