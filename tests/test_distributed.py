"""Two CPU processes under torchrun (gloo, loopback) train exactly like one process on the same
global batch, including a stop and --resume in the middle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from safetensors.numpy import load_file

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch built without distributed")

ROOT = Path(__file__).resolve().parents[1]
# Word and condition dropout on: every process must draw the same masks for the global batch.
# The default cosine LR over a time budget: 1.5 s (0.025 min) of 0.125 s steps on the fake step
# clock (tests/fakeclock.py) is 12 steps, planned from the step times at the first checkpoint.
OPTIONS = ["--config", "smiles_tiny", "--no-progress"]
OVERRIDES = [
    "data.limit=600",
    "train.epochs=5",
    "train.threads=1",
    "train.log_every_steps=1",
    "train.max_steps=0",
    "train.max_minutes=0.025",
    "train.word_dropout=0.1",
    "train.condition_dropout=0.3",
]


def _run(args: list[str], processes: int, cache: Path, interrupt_before: int | None = None) -> None:
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath}
    clock = ["tests.fakeclock", "0.125", "never" if interrupt_before is None else str(interrupt_before)]
    if processes == 1:
        cmd = [sys.executable, "-m", *clock, *args]
    else:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd = [*launcher, f"--nproc_per_node={processes}", "-m", *clock, *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]


def _train_rows(run: Path) -> list[tuple[str, ...]]:
    lines = (run / "metrics.csv").read_text().splitlines()[1:]
    return [tuple(line.split(",")[:6]) for line in lines if ",train," in line]


def test_two_processes_match_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one, two = tmp_path / "one", tmp_path / "two"
    _run(["train", *OPTIONS, "--out", str(one), *OVERRIDES], 1, cache)
    # Interrupted (as by Ctrl-C) before step 4, before the budget's step count is known: the
    # resumed processes measure the step times themselves and plan the same 12 steps.
    _run(["train", *OPTIONS, "--out", str(two), *OVERRIDES], 2, cache, interrupt_before=4)
    assert json.loads((two / "checkpoints" / "last" / "meta.json").read_text())["step"] == 4
    _run(["train", "--resume", str(two), "--no-progress"], 2, cache)

    a = load_file(str(one / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(two / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-5, f"weights differ by up to {worst}"
    rows_a, rows_b = _train_rows(one), _train_rows(two)
    assert len(rows_a) == len(rows_b) == 12
    for ra, rb in zip(rows_a, rows_b):
        assert ra[0] == rb[0]
        np.testing.assert_allclose([float(x) for x in ra[3:6]], [float(x) for x in rb[3:6]], rtol=1e-4)
    # One process wrote the run: a single header and one row per step.
    assert (two / "metrics.csv").read_text().count("step,epoch") == 1


def test_two_processes_match_one_with_a_tag_adversary(tmp_path: Path) -> None:
    """The adversary's logits come out of the module DistributedDataParallel wraps, so its
    weights are averaged like the rest: two processes still train exactly like one."""
    cache = tmp_path / "cache"
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["train", "--config", "text_tiny", "--no-progress", "data.limit=400", "data.tags=['sentiment']"]
    args += ["train.threads=1", "train.max_steps=4", "train.adversary_weight=3"]
    args += ["train.condition_dropout=0.3"]
    _run([*args, "--out", str(one)], 1, cache)
    _run([*args, "--out", str(two)], 2, cache)
    a = load_file(str(one / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(two / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys() and any(k.startswith("tag_adversary.") for k in a)
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-5, f"weights differ by up to {worst}"


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs 2 CUDA devices"
)
def test_two_gpus_match_one(tmp_path: Path) -> None:
    """nccl on two devices (one process each, cuDNN's GRU) trains like one process on one device,
    within float32 reduction-order noise."""
    cache = tmp_path / "cache"
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["train", *OPTIONS, "--device", "cuda", "data.limit=600", "train.max_steps=6"]
    args += ["train.threads=1", "train.word_dropout=0.1", "train.condition_dropout=0.3"]
    _run([*args, "--out", str(one)], 1, cache)
    _run([*args, "--out", str(two)], 2, cache)
    a = load_file(str(one / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(two / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-3, f"weights differ by up to {worst}"
