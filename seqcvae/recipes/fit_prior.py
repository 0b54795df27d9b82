"""The fit-prior recipe: a trained model's N(0, I) prior replaced by a Gaussian mixture fitted to
its aggregate posterior over the training data (training.prior_fit), written as a new checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqcvae.errors import ConfigError
from seqcvae.evaluation.report import held_out, run_splits
from seqcvae.generation.generator import Generator
from seqcvae.models.checkpoint import load_checkpoint, save_checkpoint
from seqcvae.training.prior_fit import fit_mixture_prior, with_mixture_prior


def fit_prior(
    checkpoint: str,
    out: str,
    *,
    which: str = "best",
    components: int = 64,
    samples: int = 4,
    iterations: int = 50,
    data: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    workers: int = 1,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit the mixture to `samples` posterior draws per sequence of the run's training split (or
    of the file `data`) and write the model with it to the checkpoint directory `out`, which must
    not exist. Returns the fit's report."""
    target = Path(out)
    if target.exists():
        raise ConfigError(f"--out {out!r} exists; give a new directory (nothing is overwritten)")
    if not target.resolve().parent.is_dir():
        raise ConfigError(f"--out {out!r}: folder {str(target.parent)!r} does not exist")
    for flag, value in (("--components", components), ("--samples", samples), ("--iterations", iterations)):
        if value < 1:
            raise ConfigError(f"{flag} {value}: expected a whole number >= 1")
    ckpt = load_checkpoint(checkpoint, which=which)
    gen = Generator.from_checkpoint(ckpt, device=device)
    if gen.model.shape.prior == "conditional":
        raise ConfigError(
            f"{checkpoint} has a conditional prior p(z|c); a mixture fitted to all posteriors would "
            "ignore the conditions. fit-prior replaces the standard prior N(0, I)"
        )
    if data:
        ds, _ = held_out(gen, data, workers=workers, log=log)
    else:
        ds = run_splits(gen, workers, log).train
    if len(ds) * samples < components:
        raise ConfigError(
            f"--components {components} is more than the {len(ds) * samples} posterior draws "
            f"({len(ds)} sequences x --samples {samples}); ask for fewer components or more samples"
        )
    prior, report = fit_mixture_prior(gen.model, ds, components, samples, iterations, seed)
    save_checkpoint(target, with_mixture_prior(ckpt, prior, report))
    return {**report, "checkpoint": checkpoint, "which": which, "data": data or "training split", "out": out}
