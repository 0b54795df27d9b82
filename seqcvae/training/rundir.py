"""Run directories: what counts as a seqcvae run, and the checks before a new run is written
(`seqcvae train`, `seqcvae tune`): --overwrite replaces only a run or an empty directory."""

from __future__ import annotations

import shutil
from pathlib import Path

from seqcvae.errors import SeqCVAEError
from seqcvae.training import distributed


def is_run_dir(path: Path) -> bool:
    """A directory that seqcvae train wrote: its config.json and checkpoints/, or, for a run
    stopped before its first checkpoint, its metrics.csv."""
    return (path / "config.json").is_file() and (
        (path / "checkpoints").is_dir() or (path / "metrics.csv").is_file()
    )


def check_replaceable(path: Path) -> None:
    """--overwrite replaces a seqcvae run or an empty directory, never anything else."""
    if path.is_dir() and (is_run_dir(path) or not any(path.iterdir())):
        return
    raise SeqCVAEError(
        f"--overwrite: {str(path)!r} is not a seqcvae run (no config.json with checkpoints/ or "
        "metrics.csv), so it was "
        "left as it is; give --out a new or empty directory, or a run directory to replace"
    )


def prepare_run_dir(run_dir: Path, overwrite: bool = False, hint: str | None = None) -> None:
    """Before a new run trains into `run_dir`: fail when it is a file or already holds checkpoints
    (unless `overwrite`); with `overwrite`, remove a previous run there (check_replaceable: only a
    run or an empty directory). Under torchrun only the main process checks and removes it.
    `hint`: what the refusal suggests besides --out and --overwrite (default: train's --resume)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise SeqCVAEError(f"run directory {str(run_dir)!r} is a file; give --out a directory")
    if (run_dir / "checkpoints").exists() and not overwrite:
        raise SeqCVAEError(
            f"run directory {str(run_dir)!r} already has checkpoints; use "
            f"{hint or f'--resume {run_dir} to continue'}, --out for a new directory, or "
            "--overwrite to replace it"
        )
    if overwrite and run_dir.exists() and distributed.env_info().is_main:
        check_replaceable(run_dir)
        if is_run_dir(run_dir):
            shutil.rmtree(run_dir)
