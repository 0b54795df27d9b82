"""The sweep recipe: load a run, merge the spec file with the given options over the checkpoint's
sampling defaults, warn of targets outside the training range, and run (or resume) the sweep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqcvae.generation.generator import Generator
from seqcvae.sweep import load_spec, run_sweep


def sweep(
    checkpoint: str | Path,
    out: str | Path,
    spec_path: str | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    which: str = "best",
    device: str = "cpu",
    workers: int = 1,
    plots: bool = True,
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
    progress: bool = False,
) -> dict[str, Any]:
    """Sweep the run at `checkpoint` into `out`: the TOML spec at `spec_path` with `overrides`
    (already-parsed option values, None = not given); what neither gives takes the checkpoint's
    sample seed and batch size. Returns the overall summary (empty on torchrun processes but rank 0).
    `progress`: a bar of the targets done on stderr (off when stderr is not a terminal)."""
    gen = Generator.load(checkpoint, which=which, device=device)
    checkpoint_sample = {"seed": gen.config.sample.seed, "batch_size": gen.config.sample.batch_size}
    spec = load_spec(spec_path, overrides, defaults=checkpoint_sample)
    for request in (spec.grid()[0], spec.grid()[-1]):
        for warning in gen.conditions.out_of_range(request):
            warn(warning)
    return run_sweep(gen, spec, out, workers=workers, plots=plots, log=log, progress=progress)
