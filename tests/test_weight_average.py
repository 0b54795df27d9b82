"""train.ema_decay: the moving average of the weights, its known values, and what a run does with
it: the trained weights are those of a run without it, validation and checkpoints use the
average, and --resume continues both (or starts averaging)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from seqcvae.cli import main
from seqcvae.models.checkpoint import load_checkpoint
from seqcvae.training.averaging import WeightAverage
from tests.conftest import tiny_overrides
from tests.fakeclock import FakeClock, install

ROOT = Path(__file__).resolve().parents[1]
# 540 training rows / batch 64 = 9 steps per epoch: 12 steps validate at steps 4 and 8, at the end of
# epoch 0 (step 9) and at step 12.
RUN = [
    "data.limit=600",
    "train.epochs=5",
    "train.max_steps=12",
    "train.val_every_steps=4",
    "train.val_samples=0",
]


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)


def _model(value: float) -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    _set(model, value)
    return model


def test_average_follows_the_weights_with_the_warm_up_decay():
    model = _model(0.0)
    avg = WeightAverage(model, decay=0.5)
    _set(model, 1.0)
    avg.update(model)  # decay min(0.5, 1/10) = 0.1: 0 + 0.9 * (1 - 0)
    assert avg.shadow["0.weight"].flatten().tolist() == pytest.approx([0.9, 0.9])
    avg.update(model)  # decay min(0.5, 2/11)
    assert avg.shadow["0.bias"].item() == pytest.approx(0.9 + (1 - 2 / 11) * 0.1)
    for _ in range(20):
        avg.update(model)
    assert avg.current_decay() == 0.5  # the warm-up is over: the configured decay
    _set(model, 3.0)
    before = avg.shadow["0.bias"].item()
    avg.update(model)
    assert avg.shadow["0.bias"].item() == pytest.approx(before + 0.5 * (3.0 - before))
    # integer buffers are not averaged: the model's own are served
    assert "1.num_batches_tracked" not in avg.shadow
    model[1].num_batches_tracked.fill_(7)
    assert avg.state_dict(model)["1.num_batches_tracked"].item() == 7


def test_applied_swaps_the_average_in_and_the_weights_back_even_on_error():
    model = _model(0.0)
    avg = WeightAverage(model, decay=0.9)
    _set(model, 2.0)
    with avg.applied(model):
        assert model[0].bias.item() == 0.0
    assert model[0].bias.item() == 2.0
    with pytest.raises(RuntimeError), avg.applied(model):
        raise RuntimeError("boom")
    assert model[0].bias.item() == 2.0


def test_decay_outside_0_1_is_refused(capsys):
    with pytest.raises(ValueError):
        WeightAverage(_model(0.0), decay=1.0)
    assert main(["train", "--config", "smiles_tiny", "train.ema_decay=1.5"]) == 2
    err = capsys.readouterr().err
    assert "ema_decay" in err and "1.5" in err


def _val_nelbo(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as fh:
        return [float(r["nelbo"]) for r in csv.DictReader(fh) if r["split"] == "val"]


def _train_loss(run: Path) -> list[str]:
    with open(run / "metrics.csv", newline="") as fh:
        return [r["loss"] for r in csv.DictReader(fh) if r["split"] == "train"]


def test_averaging_leaves_training_alone_and_serves_the_average(tmp_path, one_thread):
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    assert main(["train", *tiny_overrides(plain), *RUN]) == 0
    assert main(["train", *tiny_overrides(averaged), *RUN, "train.ema_decay=0.9"]) == 0
    assert _train_loss(plain) == _train_loss(averaged)  # the same steps on the same weights
    a = load_checkpoint(plain, which="last")
    b = load_checkpoint(averaged, which="last", with_train_state=True)
    assert b.train_state is not None and b.train_state["ema_updates"] == 12
    raw = b.train_state["raw_weights"]
    for k in a.weights:  # the trained weights: those of the run without averaging
        assert torch.equal(a.weights[k], raw[k]), k
    # the checkpoint serves the average, and validation measured it
    assert any(not torch.equal(b.weights[k], raw[k]) for k in raw)
    assert _val_nelbo(plain) != _val_nelbo(averaged)
    assert "raw_weights" not in (
        load_checkpoint(plain, which="last", with_train_state=True).train_state or {}
    )
    # scripts/trained_weights.py: the trained weights as a checkpoint of their own
    script = [sys.executable, str(ROOT / "scripts" / "trained_weights.py")]
    out = tmp_path / "trained"
    assert subprocess.run([*script, str(averaged), str(out)], capture_output=True).returncode == 0
    exported = load_checkpoint(out)
    assert all(torch.equal(exported.weights[k], raw[k]) for k in raw)
    again = subprocess.run([*script, str(averaged), str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    other = subprocess.run([*script, str(plain), str(tmp_path / "x")], capture_output=True, text=True)
    assert other.returncode == 2 and "ema_decay" in other.stderr


def test_resume_continues_the_average(tmp_path, monkeypatch, one_thread):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = [*RUN, "train.ema_decay=0.8"]
    assert main(["train", *tiny_overrides(straight), *common]) == 0
    install(FakeClock(0.125, interrupt_before=6), monkeypatch)
    assert main(["train", *tiny_overrides(split), *common]) == 130
    install(FakeClock(0.125), monkeypatch)
    assert main(["train", "--resume", str(split), "--no-progress"]) == 0
    a = load_checkpoint(straight, which="last", with_train_state=True)
    b = load_checkpoint(split, which="last", with_train_state=True)
    assert a.train_state is not None and b.train_state is not None
    assert b.train_state["ema_updates"] == 12
    for k in a.weights:
        assert torch.equal(a.weights[k], b.weights[k]), k
        assert torch.equal(a.train_state["raw_weights"][k], b.train_state["raw_weights"][k]), k


def test_resume_may_start_or_stop_averaging(tmp_path, one_thread):
    run = tmp_path / "run"
    assert main(["train", *tiny_overrides(run), *RUN]) == 0
    before = load_checkpoint(run, which="last").weights
    # one more step, now averaged: the average starts at the run's weights at step 12 and moves
    # by 1 - min(0.9, 1/10) towards the trained weights of step 13
    resume = ["train", "--resume", str(run), "--no-progress"]
    assert main([*resume, "train.max_steps=13", "train.ema_decay=0.9"]) == 0
    after = load_checkpoint(run, which="last", with_train_state=True)
    assert after.meta["step"] == 13 and after.train_state is not None
    assert after.train_state["ema_updates"] == 1
    raw = after.train_state["raw_weights"]
    moved = 0
    for k, v in raw.items():
        if v.is_floating_point():
            assert torch.allclose(after.weights[k], 0.1 * before[k] + 0.9 * v, atol=1e-6), k
            moved += not torch.equal(v, before[k])
    assert moved > 0
    # and off again: training continues from the trained weights, not the average
    assert main([*resume, "train.max_steps=14", "train.ema_decay=0"]) == 0
    last = load_checkpoint(run, which="last", with_train_state=True)
    assert last.train_state is not None and "raw_weights" not in last.train_state
    assert last.meta["step"] == 14
    for k, v in raw.items():  # one step from the trained weights: nowhere near the average
        if v.is_floating_point() and not torch.equal(v, before[k]):
            gap_raw = (last.weights[k] - v).abs().max()
            gap_avg = (last.weights[k] - after.weights[k]).abs().max()
            assert gap_raw < gap_avg or torch.equal(after.weights[k], v), k
