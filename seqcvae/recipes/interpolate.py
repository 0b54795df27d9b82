"""The interpolate recipe: the path between two molecules, decoded and measured."""

from __future__ import annotations

from typing import Any

from seqcvae.generation.generator import Generator
from seqcvae.generation.records import Record
from seqcvae.latent.interpolate import interpolate as decode_path
from seqcvae.latent.io import write_tool_records
from seqcvae.latent.seeds import check_seeds


def interpolate(
    checkpoint: str,
    a: str,
    b: str,
    *,
    steps: int,
    method: str = "linear",
    out: str | None = None,
    which: str = "best",
    device: str = "cpu",
) -> tuple[list[Record], dict[str, Any]]:
    gen = Generator.load(checkpoint, which=which, device=device)
    seed_a, seed_b = check_seeds(gen, [a, b], "interpolate")
    records, summary = decode_path(gen, seed_a, seed_b, steps=steps, method=method)
    if out:
        write_tool_records(out, gen, records, ["step", "t", "similarity_a", "similarity_b"])
    return records, summary
