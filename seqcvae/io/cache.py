"""Where seqcvae keeps its caches, and content hashes that key them (no torch, no RDKit)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def user_cache_dir(name: str) -> Path:
    """$XDG_CACHE_HOME/seqcvae/NAME (default ~/.cache/seqcvae/NAME)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqcvae" / name


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
