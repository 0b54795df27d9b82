"""Processes launched by torchrun: who am I (RANK, WORLD_SIZE, ...), joining the process group, and
the few collectives training and sweeps use. A single process without torchrun's variables is
rank 0 of 1, and every call here is then a no-op."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from seqcvae.errors import ConfigError

# Long: processes wait in a barrier while one builds the data cache (training: ~20 minutes per 1.6M
# molecules on two cores) or while the others finish their share of a sweep's targets.
TIMEOUT = datetime.timedelta(hours=8)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """What torchrun's environment variables say (a single process without them)."""
    try:
        return DistInfo(
            rank=int(os.environ.get("RANK", "0")),
            world_size=int(os.environ.get("WORLD_SIZE", "1")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))),
        )
    except ValueError as exc:
        raise ConfigError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None


def join(backend: str = "gloo") -> DistInfo:
    """Join the process group torchrun set up, with `backend` ("gloo" or "nccl"); a no-op for a
    single process or when already joined."""
    info = env_info()
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return info


def device_for(name: str, info: DistInfo) -> str:
    """Each process of a multi-GPU run takes the GPU of its local rank."""
    if info.enabled and torch.cuda.is_available() and name in ("auto", "cuda"):
        if info.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"{info.local_world_size} processes on this machine but only "
                f"{torch.cuda.device_count()} GPUs: use --nproc_per_node {torch.cuda.device_count()}"
            )
        torch.cuda.set_device(info.local_rank)
        return f"cuda:{info.local_rank}"
    return name


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_(t: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce of a small tensor (no-op for a single process)."""
    if dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
