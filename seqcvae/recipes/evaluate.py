"""The evaluate recipe: the reference sets of each protocol, then the report of a run (diagnostics
and sample metrics) or of a SMILES file (MOSES metrics), written as JSON where asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqcvae.errors import ConfigError
from seqcvae.evaluation import references as refs
from seqcvae.evaluation import report as rep
from seqcvae.formatting import to_json


def default_samples(protocol: str) -> int:
    """Samples for the sample metrics when none are asked for: as the MOSES paper for "moses"."""
    return rep.MOSES_SAMPLES if protocol == "moses" else rep.CONDITIONAL_SAMPLES


def resolve_references(
    protocol: str,
    reference: list[str] | None = None,
    test: str | None = None,
    test_scaffolds: str | None = None,
    smiles_file: bool = False,
) -> dict[str, str]:
    """The reference sets (name -> SMILES file) of `evaluate`: --reference [NAME=]FILE (conditional
    protocol, or a SMILES file), or --test / --test-scaffolds (MOSES protocol; default: the MOSES
    test splits in data/). Options of the other protocol are errors."""
    if protocol != "moses":
        flag = "--test" if test else "--test-scaffolds" if test_scaffolds else None
        if flag:
            raise ConfigError(
                f"{flag} is for --protocol moses; other evaluations take --reference [NAME=]FILE"
            )
        return refs.parse_references(reference)
    if smiles_file:
        raise ConfigError("--protocol moses samples a model: use it with --checkpoint, not --smiles")
    if reference:
        raise ConfigError(
            "--reference is for --protocol conditional; --protocol moses takes --test and --test-scaffolds"
        )
    references = refs.default_moses_references()
    for name, flag, path in (("Test", "--test", test), ("TestSF", "--test-scaffolds", test_scaffolds)):
        if path is not None:
            if not Path(path).is_file():
                raise ConfigError(f"{flag} {path!r}: the file does not exist")
            references[name] = path
    return references


def evaluate(
    checkpoint: str | None = None,
    smiles: str | None = None,
    *,
    references: dict[str, str],
    out: str | None = None,
    which: str = "best",
    data: str | None = None,
    k: int = 50,
    n_samples: int = rep.CONDITIONAL_SAMPLES,
    max_sequences: int = 2000,
    seed: int = 0,
    device: str = "cpu",
    protocol: str = "conditional",
    train: str | None = None,
    column: str | None = None,
    workers: int = 1,
    fcd: bool = True,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The report of the `smiles` file (MOSES metrics against `references`; `train`: molecules for
    novelty, `column`: the SMILES column of a table), else of the run at `checkpoint`
    (evaluation.report.evaluate_run). `out`: a file to write the report to as JSON; `progress`: a
    bar on stderr when it is a terminal; `log`: told, before the work starts, of reference files
    whose statistics are computed (once: they are cached) in this call."""
    if log is not None and (smiles or n_samples > 0):
        for path in refs.uncached_references(references, fcd):
            log(
                f"reference statistics of {path} are not cached yet: computing them once "
                f"(minutes per 10,000 molecules{' with FCD' if fcd else ''}; the full MOSES test "
                "splits took 2.3 h on a busy 2-core CPU), then reused"
            )
    if smiles:
        report = refs.evaluate_smiles_file(
            smiles, references, train=train, workers=workers, fcd=fcd, column=column
        )
    elif checkpoint is None:
        raise ConfigError("evaluate a run (--checkpoint) or a SMILES file (--smiles)")
    else:
        report = rep.evaluate_run(
            checkpoint,
            which=which,
            data=data,
            k=k,
            n_samples=n_samples,
            max_sequences=max_sequences,
            seed=seed,
            references=references,
            workers=workers,
            fcd=fcd,
            device=device,
            protocol=protocol,
            progress=progress,
            log=log,
        )
    if out:
        Path(out).write_text(to_json(report), encoding="utf-8")
    return report
