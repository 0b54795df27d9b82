"""A sweep's optional outputs: example molecule images per target, the SDF and SMILES lines of
valid molecules, the samples as Parquet, and the plots (sweep/plots.py). Every file is written
atomically (io.atomic)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from seqcvae.chem.sdf import SdfRows
from seqcvae.io.atomic import atomic_open
from seqcvae.io.records import INDEX, TARGET_INDEX, TARGET_PREFIX, VALID, SampleRecord, SmiRows
from seqcvae.sweep.plan import SweepPlan

IMAGE_DIR = "molecules"
SDF_FILE = "molecules.sdf"
SMI_FILE = "molecules.smi"
PARQUET_FILE = "samples.parquet"


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


# The optional files of a merged sweep and when the spec asks for them.
OPTIONAL_FILES: dict[str, Callable[[SweepPlan], bool]] = {
    SDF_FILE: lambda plan: plan.smiles and plan.spec.sdf,
    SMI_FILE: lambda plan: plan.smiles and plan.spec.smi,
    PARQUET_FILE: lambda plan: plan.spec.parquet,
}


class RowSink(Protocol):
    """Where the merge sends each valid sample's row (the cells of samples.csv)."""

    def write(self, row: list[str]) -> None: ...


@contextlib.contextmanager
def molecule_sinks(out: Path, plan: SweepPlan) -> Iterator[list[RowSink]]:
    """The molecule files the spec asks for (molecules.sdf: each row's other columns as
    properties; molecules.smi), each replaced when the block ends cleanly; none for text."""
    columns = plan.schema().columns()
    with contextlib.ExitStack() as stack:
        sinks: list[RowSink] = []
        if OPTIONAL_FILES[SDF_FILE](plan):
            sdf = SdfRows(stack.enter_context(atomic_open(out / SDF_FILE, "w")), columns)
            stack.callback(sdf.close)  # before the file is closed: callbacks run last in, first out
            sinks.append(sdf)
        if OPTIONAL_FILES[SMI_FILE](plan):
            sinks.append(SmiRows(stack.enter_context(atomic_open(out / SMI_FILE, "w")), columns))
        yield sinks


def write_parquet(out: Path, plan: SweepPlan) -> None:
    """samples.parquet: samples.csv typed (integers, floats with empty cells null, strings),
    converted a block of rows at a time."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    schema = plan.schema()
    numbers = {*(schema.measured or ()), *(TARGET_PREFIX + p for p in plan.continuous)}
    types = {
        c: pa.int64() if c in (INDEX, TARGET_INDEX, VALID) else pa.float64() if c in numbers else pa.string()
        for c in schema.columns()
    }
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    reader = pacsv.open_csv(out / "samples.csv", convert_options=options)
    with atomic_open(out / PARQUET_FILE, "wb") as fh:
        writer = pq.ParquetWriter(fh, reader.schema)
        try:
            for batch in reader:
                writer.write_batch(batch)
        finally:
            writer.close()


def write_plots(out: Path, plan: SweepPlan) -> list[str] | str:
    """plots/*.png from summary.csv (the written paths, or a note when matplotlib is missing)."""
    from seqcvae.sweep.plots import plot_sweep

    return plot_sweep(out, plan)
