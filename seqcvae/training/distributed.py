"""Data-parallel training across processes (torchrun): gloo on CPU, nccl on CUDA.

Every process reads the same global batch (the batch order is a pure function of seed and epoch),
draws the same random masks and latent noise for the whole batch, and trains on rows
rank, rank + W, ...; DistributedDataParallel averages the gradients. With the loss scaled by
W / (tokens in the global batch), the update equals a single-process step on the global batch.

The process-group plumbing is seqcvae.distributed (sweeps use it too); training adds its choice of
backend.
"""

from __future__ import annotations

import torch

from seqcvae.distributed import DistInfo, all_reduce_, barrier, device_for, env_info, join, shutdown

__all__ = ["DistInfo", "all_reduce_", "barrier", "device_for", "env_info", "init", "shutdown"]


def init(device: torch.device) -> DistInfo:
    """Join the process group torchrun set up (no-op for a single process): nccl for CUDA, else gloo."""
    return join("nccl" if device.type == "cuda" else "gloo")
