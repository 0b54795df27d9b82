"""Crash safety: Ctrl-C during training saves a resumable checkpoint and exits cleanly."""

import signal
import subprocess
import sys
import time

from seqcvae.models.checkpoint import load_checkpoint


def test_ctrl_c_saves_checkpoint_and_resume_continues(tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "seqcvae",
        "train",
        "--config",
        "smiles_tiny",
        "--out",
        str(run),
        "--no-progress",
        "train.max_steps=100000",
        "train.epochs=1000",
        "train.log_every_steps=1",
    ]
    # A shell's background job (`cmd &`) ignores SIGINT, and children inherit that: Python then
    # never raises KeyboardInterrupt. Give the child the default a terminal would.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    metrics = run / "metrics.csv"
    # Wait until training is under way (a few logged steps), then interrupt.
    while not (metrics.exists() and len(metrics.read_text().splitlines()) > 5):
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"training did not start: {proc.communicate()[1][-2000:]}")
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "--resume" in out + err
    ckpt = load_checkpoint(run, which="last", with_train_state=True)
    step = ckpt.meta["step"]
    assert step > 0
    from seqcvae.cli import main

    assert main(["train", "--resume", str(run), "--no-progress", f"train.max_steps={step + 3}"]) == 0
    assert load_checkpoint(run, which="last").meta["step"] == step + 3


def test_kill_9_then_resume_reaches_same_weights(tmp_path, monkeypatch):
    """SIGKILL mid-training, --resume from checkpoints/last: same final weights as a straight run,
    with the default cosine LR over the default kind of budget, a time budget. On the fake step
    clock (tests/fakeclock.py) 3 s of 0.0625 s steps are 48 steps, planned at the first checkpoint
    (step 9) and stored in it; the resumed process runs faster and must keep the stored count."""
    import json
    import os
    from pathlib import Path

    import torch

    from seqcvae.cli import main
    from tests.fakeclock import FakeClock, install

    root = Path(__file__).resolve().parents[1]
    common = [
        "--config",
        "smiles_tiny",
        "--no-progress",
        "data.limit=600",
        "train.epochs=20",
        "train.max_steps=0",
        "train.max_minutes=0.05",
        "train.log_every_steps=1",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    install(FakeClock(0.0625), monkeypatch)
    assert main(["train", "--out", str(straight), *common]) == 0

    pythonpath = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeclock", "0.0625", "never", "train", "--out", str(killed), *common],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )
    meta = killed / "checkpoints" / "last" / "meta.json"
    deadline = time.time() + 120
    # 540 rows / batch 64 = 9 steps per epoch: wait for the checkpoint after the second epoch.
    while True:
        try:
            if json.loads(meta.read_text())["step"] >= 18:
                break
        except (OSError, ValueError, KeyError):
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"no checkpoint before the deadline: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    install(FakeClock(0.03125), monkeypatch)
    assert main(["train", "--resume", str(killed), "--no-progress"]) == 0
    a = load_checkpoint(straight, which="last").weights
    b = load_checkpoint(killed, which="last").weights
    assert load_checkpoint(straight, which="last").meta["step"] == 48
    assert load_checkpoint(killed, which="last").meta["step"] == 48
    for k in a:
        assert torch.equal(a[k], b[k]), k
