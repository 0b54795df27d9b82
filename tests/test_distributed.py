"""Two CPU processes under torchrun (gloo, loopback) train exactly like one process on the same
global batch, including a stop and --resume in the middle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist
from safetensors.numpy import load_file

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch built without distributed")

# Word and condition dropout on: every process must draw the same masks for the global batch.
OPTIONS = ["--config", "smiles_tiny", "--no-progress"]
OVERRIDES = [
    "data.limit=600",
    "train.threads=1",
    "train.log_every_steps=1",
    "train.lr_schedule=constant",
    "train.word_dropout=0.1",
    "train.condition_dropout=0.3",
]


def _run(args: list[str], processes: int, cache: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "OMP_NUM_THREADS": "1"}
    if processes == 1:
        cmd = [sys.executable, "-m", "seqcvae", *args]
    else:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd = [*launcher, f"--nproc_per_node={processes}", "-m", "seqcvae", *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def _train_rows(run: Path) -> list[tuple[str, ...]]:
    lines = (run / "metrics.csv").read_text().splitlines()[1:]
    return [tuple(line.split(",")[:6]) for line in lines if ",train," in line]


def test_two_processes_match_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one, two = tmp_path / "one", tmp_path / "two"
    _run(["train", *OPTIONS, "--out", str(one), *OVERRIDES, "train.max_steps=8"], 1, cache)
    _run(["train", *OPTIONS, "--out", str(two), *OVERRIDES, "train.max_steps=4"], 2, cache)
    assert (two / "checkpoints" / "last").is_dir()
    _run(["train", "--resume", str(two), "--no-progress", "train.max_steps=8"], 2, cache)

    a = load_file(str(one / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(two / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-5, f"weights differ by up to {worst}"
    rows_a, rows_b = _train_rows(one), _train_rows(two)
    assert len(rows_a) == len(rows_b) == 8
    for ra, rb in zip(rows_a, rows_b):
        assert ra[0] == rb[0]
        np.testing.assert_allclose([float(x) for x in ra[3:6]], [float(x) for x in rb[3:6]], rtol=1e-4)
    # One process wrote the run: a single header and one row per step.
    assert (two / "metrics.csv").read_text().count("step,epoch") == 1
