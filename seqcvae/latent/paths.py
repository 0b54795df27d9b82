"""Points in latent space: paths between two codes and points at a distance from one."""

from __future__ import annotations

import torch

METHODS = ("linear", "spherical")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t) a + t b for each t (K,) -> (K, Z)."""
    t = t.to(a.dtype)[:, None]
    return (1 - t) * a[None] + t * b[None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (White 2016): along the great circle between the directions of a and
    b, norms interpolated linearly; linear when a and b are (anti)parallel or zero."""
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    cos = torch.clamp((a / na) @ (b / nb), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6 or (torch.pi - omega).abs() < 1e-6:
        return lerp(a, b, t)
    t = t.to(a.dtype)[:, None]
    s = torch.sin(omega)
    ua, ub = (a / na)[None], (b / nb)[None]
    direction = (torch.sin((1 - t) * omega) / s) * ua + (torch.sin(t * omega) / s) * ub
    return direction * ((1 - t) * na + t * nb)


def path(
    a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "linear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """`steps` points from a to b (both ends included): (t (K,), z (K, Z))."""
    if method not in METHODS:
        raise ValueError(f"interpolation {method!r} is not one of {', '.join(METHODS)}")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    z = (lerp if method == "linear" else slerp)(a.double(), b.double(), t)
    return t, z.to(a.dtype)


def on_sphere(centre: torch.Tensor, radius: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """n points at distance `radius` from `centre` (Z,) in uniformly random directions (n, Z)."""
    d = torch.randn(n, centre.shape[-1], generator=generator, dtype=torch.float64)
    d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (centre.double()[None] + radius * d).to(centre.dtype)
