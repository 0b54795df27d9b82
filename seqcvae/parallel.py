"""Worker processes for CPU-bound work on many items (RDKit parsing and measuring).

Workers are spawned, not forked: a fork of a process holding torch threads or CUDA state can hang.
No torch, no RDKit here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.pool import Pool
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


def _spawn_pool(
    workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()
) -> Pool:
    import multiprocessing as mp

    return mp.get_context("spawn").Pool(workers, initializer, initargs)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Pool | None]:
    """A pool of `workers` spawned processes to reuse across calls; None when workers <= 1."""
    with process_pool(workers if workers > 1 else 0) as pool:
        yield pool


@contextlib.contextmanager
def process_pool(
    workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[Pool | None]:
    """`workers` spawned processes, each running `initializer(*initargs)` first (a module-level
    function: spawned workers import it), terminated on exit; None when workers < 1. One process
    is worth having where its work overlaps with this one's (`overlapped`)."""
    if workers < 1:
        yield None
        return
    with _spawn_pool(workers, initializer, initargs) as pool:
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


class Pending(Protocol[R_co]):
    """Work submitted, its result not yet collected."""

    def get(self) -> R_co: ...


class _Done(Generic[R]):
    def __init__(self, value: R):
        self._value = value

    def get(self) -> R:
        return self._value


class _Chunks(Generic[R]):
    def __init__(self, parts: Any):  # an AsyncResult of a list of lists
        self._parts = parts

    def get(self) -> list[R]:
        return [r for part in self._parts.get() for r in part]


def submit_chunks(
    fn: Callable[[list[T]], list[R]], items: Sequence[T], chunk_size: int, pool: Pool | None
) -> Pending[list[R]]:
    """fn over consecutive chunks of items, as map_chunks, started now in `pool` and collected by
    `.get()` (in order); without a pool, fn runs here and now."""
    if pool is None or not items:
        return _Done(fn(list(items)))
    chunks = [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]
    return _Chunks(pool.map_async(fn, chunks))


def overlapped(items: Iterable[T], submit: Callable[[T], Pending[R]]) -> Iterator[tuple[T, R]]:
    """(item, result) for each of `items`, in order, where `submit(item)` starts the item's work:
    item k's work (in worker processes) runs while `items` produces item k + 1, so a lazy iterable
    (batches being sampled) and the work on its items (checking them) overlap. A consumer that
    stops early leaves at most one item's work uncollected."""
    pending: tuple[T, Pending[R]] | None = None
    for item in items:
        started = (item, submit(item))
        if pending is not None:
            yield pending[0], pending[1].get()
        pending = started
    if pending is not None:
        yield pending[0], pending[1].get()
