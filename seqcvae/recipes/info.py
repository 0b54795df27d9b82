"""The info recipe: what a checkpoint holds, without building its model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqcvae.models.checkpoint import load_checkpoint


def checkpoint_info(checkpoint: str | Path, which: str = "best") -> dict[str, Any]:
    """The checkpoint's path, position in training, metrics, model shape and size, data,
    conditions, vocabulary, where it started from (--init-from, tune), its tuning and the default
    sampling settings of generate, transfer and sweep (its [sample] section)."""
    ckpt = load_checkpoint(checkpoint, which=which)
    meta, cfg = ckpt.meta, ckpt.config
    data = cfg.get("data", {})
    return {
        "checkpoint": str(ckpt.path),
        "kind": meta.get("kind", data.get("kind")),
        "step": meta.get("step"),
        "epoch": meta.get("epoch"),
        "train_seconds": meta.get("elapsed_s"),
        "metrics": meta.get("metrics"),
        "model": meta.get("model_shape"),
        "parameters": sum(t.numel() for t in ckpt.weights.values()),
        "precision": meta.get("precision"),
        "data": {
            "train_path": data.get("train_path"),
            "val_path": data.get("val_path"),
            "limit": data.get("limit"),
            "summary": meta.get("data_summary"),
        },
        "vocabulary": (meta.get("model_shape") or {}).get("vocab_size"),
        "conditions": ckpt.conditions,
        "init_from": meta.get("init_from"),
        "tuning": meta.get("tuning"),
        "train": cfg.get("train"),
        "sample": cfg.get("sample"),
    }
