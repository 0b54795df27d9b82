"""Atomic writes with one durability policy (no torch, no RDKit).

A file is written to a temporary sibling, flushed and fsynced, renamed over the target with
os.replace, and then the parent directory is fsynced so that the rename itself survives a crash.
Readers see the old content or the new, never a part; a write that fails leaves the old file as it
was and no temporary behind. Directories are built elsewhere under a temporary name and then
published (`publish_dir`, first writer wins) or swapped in (`replace_dir`) the same way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: str | Path) -> None:
    """fsync a directory, so that entries created or renamed in it are on disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a platform that cannot open a directory (Windows): nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file and directory under root (root included), deepest first."""
    for here, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            with open(os.path.join(here, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(here)


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", encoding: str | None = None, newline: str | None = None
) -> Iterator[IO[Any]]:
    """A file handle (mode "w" or "wb") whose content replaces `path` when the block ends cleanly.

    Wrap it for streaming writers (`gzip.open(fh, "wt")`, `np.savez(fh, ...)`, `csv.writer(fh)`);
    close the wrapper inside the block. If the block raises, `path` is untouched and the temporary
    is removed. The parent directory must exist.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = _temporary_sibling(path)
    text = mode == "w"
    fh = open(  # noqa: SIM115 (closed below, before the rename)
        tmp, "x" if text else "xb", encoding=(encoding or "utf-8") if text else None, newline=newline
    )
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, path)
    except BaseException:
        fh.close()
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding) as fh:
        fh.write(text)


def publish_dir(tmp_dir: str | Path, final_dir: str | Path) -> bool:
    """Rename the finished directory tmp_dir to final_dir, unless final_dir exists already.

    Everything under tmp_dir is fsynced first and the parent after. Returns False (tmp_dir left for
    the caller to remove) when another writer published final_dir first: theirs is kept.
    """
    tmp_dir, final_dir = Path(tmp_dir), Path(final_dir)
    fsync_tree(tmp_dir)
    try:
        tmp_dir.rename(final_dir)
    except OSError:
        if final_dir.exists():
            return False
        raise
    fsync_dir(final_dir.parent)
    return True


def replace_dir(tmp_dir: str | Path, final_dir: str | Path) -> None:
    """Swap the finished directory tmp_dir in for final_dir (made or replaced).

    A directory cannot be renamed over a non-empty one, so an old final_dir is first moved aside to
    FINAL.old and removed after the swap; a crash in between leaves FINAL.old, not nothing (readers
    fall back to it). A FINAL.old left by such a crash is kept until the new final_dir is in place.
    """
    tmp_dir, final_dir = Path(tmp_dir), Path(final_dir)
    old = final_dir.with_name(f"{final_dir.name}.old")
    fsync_tree(tmp_dir)
    if final_dir.exists():
        if old.exists():  # final_dir is complete: the older copy is not needed
            shutil.rmtree(old)
        os.replace(final_dir, old)
    os.replace(tmp_dir, final_dir)
    fsync_dir(final_dir.parent)
    if old.exists():
        shutil.rmtree(old)
