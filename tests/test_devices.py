"""--device: clear errors without CUDA; on a GPU machine (marker gpu) train and sample on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqcvae.cli import main
from tests.conftest import tiny_overrides

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@no_cuda
def test_generate_on_missing_cuda_is_clear_error(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["generate", "--checkpoint", str(tiny_run), "--n", "4", "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 2 and "no CUDA device is available" in err and "Traceback" not in err


@no_cuda
def test_train_on_missing_cuda_is_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", *tiny_overrides(tmp_path / "r"), "--device", "cuda", "train.max_steps=2"])
    err = capsys.readouterr().err
    assert rc == 2 and "no CUDA device is available" in err


def test_unknown_device_is_clear_error(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["generate", "--checkpoint", str(tiny_run), "--n", "4", "--device", "tpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "'tpu'" in err and "cuda:N" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_and_sample_on_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gpu"
    assert main(["train", *tiny_overrides(out), "--device", "cuda", "train.precision=auto"]) == 0
    log = capsys.readouterr().out
    assert "cuda" in log
    rc = main(["generate", "--checkpoint", str(out), "--n", "64", "--device", "cuda", "-c", "LogP=2"])
    assert rc == 0 and "validity" in capsys.readouterr().out
