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


def overfit_molecules() -> list[str]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [r["SMILES"] for r in csv.DictReader(fh) if len(r["SMILES"]) <= 30][:24]


@pytest.fixture(scope="session")
def overfit_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A tiny SMILES model overfit to 24 short molecules of the sample (its z carries each one;
    about 10 s): (run directory, the molecules)."""
    import torch

    from seqcvae.config import load_config
    from seqcvae.recipes.train import train

    mols = overfit_molecules()
    root = tmp_path_factory.mktemp("overfit")
    data = root / "mols.csv"
    data.write_text("SMILES\n" + "\n".join(mols) + "\n", encoding="utf-8")
    cfg = load_config(
        "smiles_tiny",
        [
            f"data.train_path={str(data)!r}",
            f"data.val_path={str(data)!r}",
            "data.limit=0",
            "data.properties=['LogP']",
            "model.decoder_hidden=128",
            "model.latent_dim=16",
            "train.epochs=100000",
            "train.max_steps=300",
            "train.batch_size=24",
            "train.lr=0.01",
            "train.warmup_steps=10",
            "train.kl_max=0.02",
            "train.kl_warmup_steps=100",
            "train.condition_dropout=0.0",
            "train.threads=1",
            "train.device=cpu",
            "train.val_max_sequences=24",
            "train.val_iw_samples=1",
            "train.log_every_steps=1000",
        ],
    )
    threads = torch.get_num_threads()
    try:
        train(cfg, root / "run", log=lambda _msg: None, progress=False)
    finally:
        torch.set_num_threads(threads)
    return root / "run", mols


def generate_these(monkeypatch: pytest.MonkeyPatch, molecules: list[str]) -> None:
    """The model "generates" these molecules (a tiny model's samples are rarely valid)."""
    from seqcvae.generation.generator import Generator

    def fake(
        self: Generator, requests: list, seed: int = 0, batch_size: int = 1000, *args: object, **kw: object
    ):
        chosen = molecules[: len(requests)]
        for start in range(0, len(chosen), batch_size):
            yield chosen[start : start + batch_size]

    # sample_sequences and generate_batches (generate, --hits) both draw through sample_batches
    monkeypatch.setattr(Generator, "sample_batches", fake)


@pytest.fixture
def molecules(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model "generates" the shipped sample's first 200 molecules in order (all valid)."""
    mols = [r["SMILES"] for r in read_sample(200)]
    generate_these(monkeypatch, mols)
    return mols
