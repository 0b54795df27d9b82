"""The leaf modules: worker-process chunking (seqcvae.parallel) and what the leaves import."""

from __future__ import annotations

import subprocess
import sys

from seqcvae.parallel import map_chunks, worker_pool

ITEMS = [9, 3, 7, 1, 8, 2, 6, 0, 5, 4]


def test_map_chunks_in_this_process_below_two_chunks() -> None:
    # `sorted` shows the chunking: one call over all items sorts them all
    assert map_chunks(sorted, ITEMS, chunk_size=6, workers=4) == sorted(ITEMS)
    assert map_chunks(sorted, ITEMS, chunk_size=2, workers=1) == sorted(ITEMS)
    assert map_chunks(sorted, [], chunk_size=2, workers=4) == []


def test_map_chunks_in_workers_keeps_chunk_order() -> None:
    by_chunk = [1, 3, 7, 9, 0, 2, 6, 8, 4, 5]  # chunks of 4, each sorted, in order
    assert map_chunks(sorted, ITEMS, chunk_size=4, workers=2) == by_chunk
    with worker_pool(2) as pool:
        assert pool is not None
        assert map_chunks(sorted, ITEMS, chunk_size=4, pool=pool) == by_chunk
        assert map_chunks(sorted, ITEMS[::-1], chunk_size=5, pool=pool) == [0, 2, 4, 5, 6, 1, 3, 7, 8, 9]
    with worker_pool(1) as none:
        assert none is None


def _imported(modules: str) -> set[str]:
    code = f"import sys, {modules}; print(' '.join(m for m in ('torch', 'rdkit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_leaf_modules_import_neither_torch_nor_rdkit() -> None:
    assert _imported("seqcvae.io.atomic, seqcvae.io.cache, seqcvae.stats, seqcvae.parallel") == set()
    assert _imported("seqcvae.chem, seqcvae.chem.moses, seqcvae.chem.metrics") == {"rdkit"}
