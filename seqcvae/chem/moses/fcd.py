"""Frechet ChemNet Distance via the optional package fcd_torch (`pip install seqcvae[fcd]`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np


def fcd_available() -> bool:
    try:
        import fcd_torch  # noqa: F401
    except ImportError:
        return False
    return True


FCD_BATCH = 512  # molecules per ChemNet batch
# Molecules per fcd_torch call: its memory grows with the list it is given (4.1 GB for 20,000
# molecules in one call against 1.3 GB in calls of 5,120; the 176k-molecule MOSES test split did
# not fit in 24 GB). A multiple of the batch, so that every batch is the one a single call makes.
FCD_CHUNK = 10 * FCD_BATCH


@functools.lru_cache(maxsize=4)
def _fcd_model(workers: int, device: str) -> Any:
    from fcd_torch import FCD

    return FCD(device=device, n_jobs=max(1, workers), batch_size=FCD_BATCH)


def fcd_statistics(smiles: Sequence[str], workers: int, device: str) -> dict[str, np.ndarray] | None:
    """ChemNet activations' mu and sigma of the SMILES as given (fcd_torch canonicalises them
    itself), as fcd_torch's precalc computes them but FCD_CHUNK molecules at a time; None when
    fcd_torch is not installed."""
    if not fcd_available():
        return None
    model = _fcd_model(workers, device)
    smiles = list(smiles)
    if len(smiles) < 2:
        return model.precalc(smiles)  # its warning and empty statistics
    acts = np.concatenate(
        [model.get_predictions(smiles[i : i + FCD_CHUNK]) for i in range(0, len(smiles), FCD_CHUNK)]
    )
    return {"mu": acts.mean(0), "sigma": np.cov(acts.T)}


def fcd_distance(ref: dict[str, np.ndarray], gen: dict[str, np.ndarray], device: str) -> float:
    return float(_fcd_model(1, device).metric(ref, gen))
