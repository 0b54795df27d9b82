"""The optimize recipe: edit each seed toward its goals at a similarity floor; the best candidates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from seqcvae.generation.generator import Generator
from seqcvae.latent.goals import make_goals
from seqcvae.latent.io import read_smiles, write_tool_records
from seqcvae.latent.optimize import EditResult, EditTask, edit_summary, result_records
from seqcvae.latent.optimize import optimize as edit
from seqcvae.latent.seeds import check_seeds


def optimize(
    checkpoint: str,
    given: Sequence[str],
    input_path: str | None = None,
    column: str | None = None,
    *,
    targets: Mapping[str, str],
    shifts: Mapping[str, float],
    tolerance: Mapping[str, float],
    min_similarity: float,
    budget: int,
    keep: int,
    out: str | None = None,
    which: str = "best",
    device: str = "cpu",
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
) -> tuple[list[EditResult], dict[str, Any]]:
    gen = Generator.load(checkpoint, which=which, device=device)
    smiles = read_smiles(given, input_path, column, gen.config.data.sequence_column)
    seeds = check_seeds(gen, smiles, "optimize")
    tasks = [EditTask(s, make_goals(gen.conditions, s.properties, targets, shifts, tolerance)) for s in seeds]
    from tqdm import tqdm

    disable = None if progress else True  # None: off when stderr is not a terminal
    with tqdm(
        total=budget * len(tasks), unit="proposal", desc="optimize", disable=disable, leave=False
    ) as bar:
        results = edit(
            gen,
            tasks,
            min_similarity=min_similarity,
            budget=budget,
            seed=seed,
            workers=workers,
            on_round=bar.update,
        )
    if out:
        records = result_records(results, keep)
        sources = [results[r.extra["seed_index"]].task.seed.given for r in records]
        extra = ["seed_index", "rank", "similarity", "error", "meets_goals"]
        write_tool_records(out, gen, records, extra, sources)
    return results, edit_summary(results)
