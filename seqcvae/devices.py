"""Device names ("auto", "cpu", "cuda", "cuda:1") to torch devices, with clear errors."""

from __future__ import annotations

import functools
import time

import torch

from seqcvae.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str) -> torch.device:
    """ "auto": the GPU when CUDA is available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but no CUDA device is available; use cpu or auto")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    return device


@functools.lru_cache(maxsize=4)
def bf16_speedup(device: torch.device, size: int = 512, repeats: int = 20) -> float:
    """Measured speed ratio of bfloat16 to float32 matrix products on this device (~0.1 s).

    CPUs with AVX512-BF16/AMX run bf16 products ~3x faster; others emulate them slowly, so
    `precision = "auto"` measures instead of guessing.
    """
    if device.type == "cuda":
        return 2.0 if torch.cuda.is_bf16_supported() else 0.0
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(256, size, dtype=dtype)
        w = torch.randn(size, 3 * size, dtype=dtype)
        a @ w
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ w
        times[dtype] = time.perf_counter() - t0
    return times[torch.float32] / max(times[torch.bfloat16], 1e-9)
