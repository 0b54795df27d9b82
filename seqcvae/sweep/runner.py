"""Run a sweep: generate at every target, check with RDKit, summarise, stream everything to disk.

Directory layout: sweep/parts.py; images, SDF and plots: sweep/outputs.py. Generation holds one
target's samples at a time, and merging streams the parts (66 MB peak for 1M samples,
tests/test_sweep.py). Interrupting loses at most the target in progress. Under torchrun each rank
takes every WORLD_SIZE-th target; rank 0 merges once all are finished.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from seqcvae import distributed
from seqcvae.evaluation.style import fit_style_classifier
from seqcvae.generation.generator import Generator
from seqcvae.sweep.outputs import draw_examples, write_plots
from seqcvae.sweep.parts import check_spec_file, finished, is_done, merge, write_part
from seqcvae.sweep.plan import SweepPlan, plan_sweep
from seqcvae.sweep.spec import SweepSpec
from seqcvae.sweep.summary import progress_line, summarise_target

__all__ = ["run_sweep", "run_targets"]


def run_targets(
    gen: Generator,
    plan: SweepPlan,
    out: Path,
    rank: int = 0,
    world: int = 1,
    workers: int = 1,
    log: Callable[[str], None] = print,
    progress: bool = False,
) -> int:
    """Generate and summarise this rank's unfinished targets. Returns how many it ran.
    `progress`: a bar of this rank's targets on stderr (tqdm; off when stderr is not a terminal),
    the lines `log` writes printed above it."""
    (out / "parts").mkdir(parents=True, exist_ok=True)
    reference = gen.reference_set() if plan.smiles else None
    style = fit_style_classifier(gen, plan.tags) if gen.kind == "text" and plan.tags else None
    ran = 0
    total = len(plan.requests)
    mine = [i for i in range(total) if i % world == rank]
    todo = [i for i in mine if not is_done(out, i, plan)]
    bar = tqdm(
        total=len(mine),
        initial=len(mine) - len(todo),
        unit="target",
        desc="sweep",
        disable=None if progress else True,  # None: off when stderr is not a terminal
        dynamic_ncols=True,
        leave=False,
    )
    with bar:
        for i in todo:
            request = plan.requests[i]
            t0 = time.perf_counter()
            records = gen.generate(
                request,
                n=plan.spec.n,
                seed=plan.spec.seed + i,  # per target: resumed and sharded sweeps give the same samples
                batch_size=plan.spec.batch_size,
                workers=workers,
                **plan.spec.sample,
            )
            summary = summarise_target(plan, i, request, records, reference, style)
            summary["seconds"] = round(time.perf_counter() - t0, 2)
            if plan.smiles and plan.spec.images:
                draw_examples(out, i, records, plan)
            write_part(out, plan, i, records, summary)
            ran += 1
            with tqdm.external_write_mode(file=sys.stderr):  # the line above the bar, not through it
                log(progress_line(plan, i, total, request, summary))
            bar.update(1)
    return ran


def run_sweep(
    gen: Generator,
    spec: SweepSpec,
    out: str | Path,
    workers: int = 1,
    plots: bool = True,
    log: Callable[[str], None] = print,
    progress: bool = False,
) -> dict[str, Any]:
    """Run (or resume) a sweep into `out`; returns the overall summary. `progress`: a bar of the
    targets done on stderr (rank 0 only; off when stderr is not a terminal).

    Under torchrun (WORLD_SIZE > 1) every rank calls this; each runs its share of the targets,
    then rank 0 merges and plots after a barrier.
    """
    out = Path(out)
    plan = plan_sweep(gen, spec)
    info = distributed.env_info()
    model = gen.source or {"run_dir": str(gen.run_dir) if gen.run_dir else None}
    if info.is_main:
        check_spec_file(out, spec, model)
    distributed.join("gloo")  # samples are not exchanged: the CPU backend only synchronises
    distributed.barrier()
    if not info.is_main:
        check_spec_file(out, spec, model)
    skipped = len([i for i in finished(out, plan) if i % info.world_size == info.rank])
    if skipped:
        log(f"resuming: {skipped} of this rank's targets already finished")
    run_targets(gen, plan, out, info.rank, info.world_size, workers, log, progress and info.is_main)
    distributed.barrier()
    if not info.is_main:
        return {}
    overall = merge(out, plan)
    if plots:
        overall["plots"] = write_plots(out, plan)
    return overall
