"""Worker processes for CPU-bound work on many items (RDKit parsing and measuring).

Workers are spawned, not forked: a fork of a process holding torch threads or CUDA state can hang.
No torch, no RDKit here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import Pool
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _spawn_pool(workers: int) -> Pool:
    import multiprocessing as mp

    return mp.get_context("spawn").Pool(workers)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Pool | None]:
    """A pool of `workers` spawned processes to reuse across calls; None when workers <= 1."""
    if workers <= 1:
        yield None
        return
    with _spawn_pool(workers) as pool:
        yield pool


def map_chunks(
    fn: Callable[[list[T]], list[R]],
    items: Sequence[T],
    chunk_size: int,
    workers: int = 1,
    pool: Pool | None = None,
) -> list[R]:
    """fn over consecutive chunks of items, results concatenated in order.

    Runs in `pool` when given, else in a pool of up to `workers` processes made for this call; in
    this process when workers <= 1 and there is no pool, or when the items fill fewer than two
    chunks (starting workers would cost more than it saves). fn must be picklable (a module-level
    function or a functools.partial of one).
    """
    if (pool is None and workers <= 1) or len(items) < 2 * chunk_size:
        return fn(list(items))
    chunks = [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]
    if pool is not None:
        parts = pool.map(fn, chunks)
    else:
        with _spawn_pool(min(workers, len(chunks))) as own:
            parts = own.map(fn, chunks)
    return [r for part in parts for r in part]
