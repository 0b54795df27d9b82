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


@functools.lru_cache(maxsize=4)
def _fcd_model(workers: int, device: str) -> Any:
    from fcd_torch import FCD

    return FCD(device=device, n_jobs=max(1, workers), batch_size=512)


def fcd_statistics(smiles: Sequence[str], workers: int, device: str) -> dict[str, np.ndarray] | None:
    """ChemNet activations' mu and sigma of the SMILES as given (fcd_torch canonicalises them
    itself); None when fcd_torch is not installed."""
    if not fcd_available():
        return None
    return _fcd_model(workers, device).precalc(list(smiles))


def fcd_distance(ref: dict[str, np.ndarray], gen: dict[str, np.ndarray], device: str) -> float:
    return float(_fcd_model(1, device).metric(ref, gen))
