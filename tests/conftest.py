from __future__ import annotations

import csv
import gzip
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "moses_sample" / "train.csv.gz"
SHARED = ROOT.parent / "shared"

# Data and reference caches of the tests go to a fresh directory, not the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="seqcvae-test-cache-")


def read_sample(limit: int | None = None) -> list[dict[str, str]]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows[:limit] if limit else rows


@pytest.fixture(scope="session")
def sample_rows() -> list[dict[str, str]]:
    return read_sample()


def tiny_overrides(out: Path, *extra: str) -> list[str]:
    return ["--config", "smiles_tiny", "--out", str(out), "--no-progress", *extra]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained through the CLI once per test session (a few seconds)."""
    from seqcvae.cli import main

    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", *tiny_overrides(out)[0:], "train.max_steps=40"]) == 0
    return out


@pytest.fixture
def one_thread():
    """torch on one intra-op thread for the test, then as before: small models run several times
    faster than on two threads of a busy 2-core machine, with the same results."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
