"""Where a model's continuous conditions' training values came from (RDKit or the data file), and
how generated molecules are scored on them: what `Generator` reports beside measured values."""

from __future__ import annotations

from seqcvae.config import DataConfig
from seqcvae.data.conditions import ConditionSpace
from seqcvae.errors import SeqCVAEError


def measured_properties(conditions: ConditionSpace) -> list[str]:
    """The continuous conditions that generated molecules are measured on (with RDKit)."""
    from seqcvae.chem.properties import PROPERTY_NAMES

    return [c.name for c in conditions.continuous if c.name in PROPERTY_NAMES]


def property_label(name: str, measured: list[str], sources: dict[str, str | None]) -> str:
    """How `name` is scored: "LogP (RDKit)" when the model was trained on RDKit's LogP,
    "LogP (RDKit; trained on file values)" when on the data file's LogP column, and
    "pIC50 (cannot be measured)" for a file column RDKit has no measure of."""
    if name not in measured:
        return f"{name} (cannot be measured)"
    source = sources.get(name)
    if source == "rdkit":
        return f"{name} (RDKit)"
    if source == "file":
        return f"{name} (RDKit; trained on file values)"
    return f"{name} (RDKit; training values' source not recorded)"


def infer_condition_sources(sources: dict[str, str | None], kind: str, data: DataConfig) -> list[str]:
    """Old checkpoints don't record where their conditions' training values came from: fill the
    unknown (None) entries of `sources` in place from the training file's header if it is still
    there (as training decided); returns notes that say what was inferred or could not be."""
    unknown = [n for n, s in sources.items() if s is None]
    if not unknown:
        return []
    if kind == "text":
        sources.update(dict.fromkeys(unknown, "file"))
        return []
    from seqcvae.chem.properties import PROPERTY_NAMES
    from seqcvae.data.prepare import property_sources
    from seqcvae.data.splits import resolve_data_path

    notes = []
    train_path = data.train_path
    try:
        inferred = property_sources(resolve_data_path(train_path), data)
    except SeqCVAEError:  # the file is gone or unreadable
        inferred = {}
    known = [n for n in unknown if n in inferred]
    for name in known:
        sources[name] = inferred[name]
    if known:
        notes.append(
            f"where the training values of {', '.join(known)} came from is not recorded in this "
            f"checkpoint (it predates that record); inferred from the header of its training "
            f"file {train_path!r}"
        )
    still = [n for n in unknown if n not in inferred]
    for name in still:  # a property seqcvae cannot compute must have been a file column
        if name not in PROPERTY_NAMES:
            sources[name] = "file"
    still = [n for n in still if n in PROPERTY_NAMES]
    if still:
        notes.append(
            f"where the training values of {', '.join(still)} came from is not recorded in this "
            f"checkpoint (it predates that record) and its training file {train_path!r} is not "
            "available to infer it: they are measured with RDKit, but the model may have been "
            "trained on the file's own values"
        )
    return notes
