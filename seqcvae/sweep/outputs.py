"""A sweep's optional outputs: example molecule images per target, the SDF of valid molecules, and
the plots (sweep/plots.py). Every file is written atomically (io.atomic)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from seqcvae.chem.sdf import SdfRows
from seqcvae.io.atomic import atomic_open
from seqcvae.io.records import SampleRecord
from seqcvae.sweep.plan import SweepPlan

IMAGE_DIR = "molecules"
SDF_FILE = "molecules.sdf"


def draw_examples(out: Path, i: int, records: Sequence[SampleRecord], plan: SweepPlan) -> None:
    """molecules/target_NNNNN.png: up to spec.images distinct valid molecules of target i, each
    labelled with its measured values of the swept properties (nothing without Pillow)."""
    try:
        from rdkit.Chem import Draw

        from seqcvae.chem.mol import mol_from_smiles
    except ImportError:  # pragma: no cover - RDKit is a dependency
        return
    seen: set[str] = set()
    mols, legends = [], []
    for r in records:
        if r.valid and r.canonical and r.canonical not in seen:
            seen.add(r.canonical)
            mols.append(mol_from_smiles(r.canonical))
            legends.append(
                ", ".join(f"{p} {r.properties[p]:.2f}" for p in plan.continuous if p in r.properties)
            )
        if len(mols) >= plan.spec.images:
            break
    if not mols:
        return
    try:
        img = Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(250, 200), legends=legends)
    except ImportError:  # Pillow missing: no images
        return
    (out / IMAGE_DIR).mkdir(exist_ok=True)
    with atomic_open(out / IMAGE_DIR / f"target_{i:05d}.png", "wb") as fh:
        img.save(fh, format="PNG")


@contextlib.contextmanager
def sdf_sink(out: Path, plan: SweepPlan, wanted: bool) -> Iterator[SdfRows | None]:
    """molecules.sdf (valid molecules of the merged samples, each row's other columns as properties),
    replaced when the block ends cleanly (None when not wanted or not SMILES)."""
    if not (wanted and plan.smiles):
        yield None
        return
    with atomic_open(out / SDF_FILE, "w") as fh:
        sink = SdfRows(fh, plan.schema().columns())
        try:
            yield sink
        finally:
            sink.close()


def write_plots(out: Path, plan: SweepPlan) -> list[str] | str:
    """plots/*.png from summary.csv (the written paths, or a note when matplotlib is missing)."""
    from seqcvae.sweep.plots import plot_sweep

    return plot_sweep(out, plan)
