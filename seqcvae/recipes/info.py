"""The info recipe: what a checkpoint holds, without loading its model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqcvae.models.checkpoint import load_checkpoint


def checkpoint_info(checkpoint: str | Path, which: str = "best") -> dict[str, Any]:
    """The checkpoint's path, step, metrics, model shape, conditions and the default sampling
    settings of generate, transfer and sweep (its [sample] section)."""
    ckpt = load_checkpoint(checkpoint, which=which)
    return {
        "checkpoint": str(ckpt.path),
        "step": ckpt.meta.get("step"),
        "metrics": ckpt.meta.get("metrics"),
        "model": ckpt.meta.get("model_shape"),
        "conditions": ckpt.conditions,
        "sample": ckpt.config.get("sample"),
    }
