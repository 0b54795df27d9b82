"""Training policy through the CLI: step-based schedules under a time budget, validation every N
steps, the recorded run directory and a validation split that does not follow train.seed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from seqcvae.cli import main
from seqcvae.models.checkpoint import load_checkpoint
from tests.conftest import tiny_overrides
from tests.fakeclock import FakeClock, install

# 540 training rows / batch 64 = 9 steps per epoch. A time budget of 3 s (0.05 min) with steps of
# 0.125 s on the fake clock is 24 steps; epochs=5 (45 steps) does not limit it.
TIME_BUDGET = ["data.limit=600", "train.epochs=5", "train.max_steps=0", "train.max_minutes=0.05"]


def _rows(run: Path, split: str) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["split"] == split]


def _lrs(run: Path) -> dict[int, float]:
    return {int(r["step"]): float(r["lr"]) for r in _rows(run, "train")}


def test_lr_at_a_step_does_not_depend_on_how_fast_the_steps_ran(tmp_path, monkeypatch):
    steady, slowing = tmp_path / "steady", tmp_path / "slowing"
    install(FakeClock(0.125), monkeypatch)
    assert main(["train", *tiny_overrides(steady), *TIME_BUDGET, "train.log_every_steps=1"]) == 0
    # Same speed until the budget has been converted into steps, then 4x slower.
    install(FakeClock(lambda k: 0.125 if k < 12 else 0.5), monkeypatch)
    assert main(["train", *tiny_overrides(slowing), *TIME_BUDGET, "train.log_every_steps=1"]) == 0
    a, b = _lrs(steady), _lrs(slowing)
    assert max(a) == 24  # the budget's step count: the schedule ends there
    assert max(b) == 15  # 12 x 0.125 s + 3 x 0.5 s: the wall clock stopped it first
    for step in b:
        assert b[step] == a[step], step
    assert a[24] == pytest.approx(2e-4, rel=0.05)  # the cosine reached min_lr at the planned end
    meta = load_checkpoint(slowing, which="last").meta
    assert meta["schedule"]["steps"] == 24


def test_resume_with_a_larger_time_budget_keeps_the_schedule(tmp_path, monkeypatch):
    run = tmp_path / "run"
    install(FakeClock(0.125), monkeypatch)
    assert main(["train", *tiny_overrides(run), *TIME_BUDGET, "train.log_every_steps=1"]) == 0
    install(FakeClock(0.125), monkeypatch)
    assert main(["train", "--resume", str(run), "--no-progress", "train.max_minutes=0.075"]) == 0
    lrs = _lrs(run)
    assert max(lrs) == 36  # 4.5 s of steps of 0.125 s in all
    # The LR does not jump back up: the extra steps continue at the end of the schedule.
    assert all(lrs[s] == lrs[25] for s in range(25, 37))
    assert lrs[25] == pytest.approx(2e-4)
    assert load_checkpoint(run, which="last").meta["schedule"]["steps"] == 24


def test_val_every_steps_validates_mid_epoch(tmp_path):
    run = tmp_path / "run"
    extra = ["data.limit=600", "train.epochs=5", "train.max_steps=20", "train.val_every_steps=4"]
    assert main(["train", *tiny_overrides(run), *extra]) == 0
    steps = [int(r["step"]) for r in _rows(run, "val")]
    # Every 4 steps, and at the end of each 9-step epoch and of the run, once per step.
    assert steps == [4, 8, 9, 12, 16, 18, 20]


def test_config_json_records_the_run_directory(tiny_run):
    for cfg in (
        json.loads((tiny_run / "config.json").read_text()),
        load_checkpoint(tiny_run, which="last").config,
    ):
        assert cfg["output_dir"] == str(tiny_run)


def test_validation_rows_do_not_follow_train_seed():
    from seqcvae.config import load_config
    from seqcvae.data.splits import prepare_run_data

    def val_rows(*overrides: str) -> list[int]:
        return prepare_run_data(load_config("smiles_tiny", list(overrides))).val.rows.tolist()

    base = val_rows()
    assert val_rows("train.seed=7") == base
    assert val_rows("data.split_seed=7") != base


def test_the_negative_elbo_is_called_nelbo(tiny_run):
    """The validation score (rec + KL, lower is better) is the negative ELBO: metrics.csv,
    checkpoints and the run summary call it nelbo."""
    with open(tiny_run / "metrics.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert "nelbo" in header and "elbo" not in header
    meta = load_checkpoint(tiny_run, which="last").meta
    assert "best_val_nelbo" in meta and "best_val_elbo" not in meta
    m = meta["metrics"]
    assert m["val_nelbo"] == pytest.approx(m["val_rec"] + m["val_kl"])
    assert "best_val_nelbo" in json.loads((tiny_run / "train_summary.json").read_text())


def test_a_run_written_with_the_elbo_names_resumes(tmp_path):
    """Checkpoints and metrics.csv from before the rename: the best score is read from
    best_val_elbo, and metrics.csv keeps its own header, its elbo column filled on."""
    run = tmp_path / "run"
    assert main(["train", *tiny_overrides(run), "data.limit=600", "train.epochs=5", "train.max_steps=9"]) == 0
    last = run / "checkpoints" / "last" / "meta.json"
    meta = json.loads(last.read_text())
    meta.pop("best_val_nelbo", None)
    meta["best_val_elbo"] = -1.0  # better than any real score: no new best checkpoint
    meta["metrics"] = {k.replace("nelbo", "elbo"): v for k, v in meta["metrics"].items()}
    last.write_text(json.dumps(meta))
    metrics = run / "metrics.csv"
    lines = metrics.read_text().splitlines()
    old_header = lines[0].replace("nelbo", "elbo")
    metrics.write_text("\n".join([old_header, *lines[1:]]) + "\n")
    best_step = load_checkpoint(run, which="best").meta["step"]
    assert main(["train", "--resume", str(run), "--no-progress", "train.max_steps=18"]) == 0
    resumed = load_checkpoint(run, which="last").meta
    assert resumed["step"] == 18 and resumed["best_val_nelbo"] == -1.0
    assert load_checkpoint(run, which="best").meta["step"] == best_step
    with open(metrics, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert ",".join(rows[0]) == old_header
    val = [r for r in rows if r["split"] == "val"]
    assert [r["step"] for r in val] == ["9", "18"]
    assert float(val[-1]["elbo"]) == pytest.approx(float(val[-1]["rec"]) + float(val[-1]["kl"]), rel=1e-4)


def test_a_mmd_term_pulls_the_posterior_onto_the_prior():
    import torch

    from seqcvae.models.losses import mmd_to_standard_normal

    g = torch.Generator().manual_seed(0)

    def draw():
        return torch.randn(256, 16, generator=g)

    same = mmd_to_standard_normal(draw(), draw())
    narrow = mmd_to_standard_normal(0.5 * draw(), draw())
    shifted = mmd_to_standard_normal(draw() + 1, draw())
    assert abs(float(same)) < 0.02 < float(narrow) and float(shifted) > 0.1
    z = (0.5 * torch.randn(256, 16, generator=g)).requires_grad_()
    mmd_to_standard_normal(z, torch.randn(256, 16, generator=g)).backward()
    assert z.grad is not None
    # a gradient step on the MMD spreads the too-narrow z towards unit variance
    stepped = (z - 0.1 * z.grad.sign()).detach()
    assert float(stepped.var()) > float(z.detach().var())


def test_a_version_4_config_gains_mmd_weight():
    from seqcvae.config import RunConfig, load_config

    stored = load_config("smiles_tiny").to_dict()
    stored["config_version"] = 4
    del stored["train"]["mmd_weight"]
    assert RunConfig.from_stored(stored).train.mmd_weight == 0.0


def test_the_mmd_term_changes_training(tmp_path):
    """train.mmd_weight reaches the loss: the same three steps with and without it differ."""
    import torch

    from seqcvae.cli import main
    from seqcvae.models.checkpoint import load_checkpoint
    from tests.conftest import tiny_overrides

    for name, w in (("plain", 0), ("mmd", 1000)):
        argv = ["train", *tiny_overrides(tmp_path / name), "train.max_steps=3", f"train.mmd_weight={w}"]
        assert main(argv) == 0
    a, b = (load_checkpoint(tmp_path / n, which="last").weights for n in ("plain", "mmd"))
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_sample_validity_and_tensorboard_scalars_at_each_validation(tmp_path):
    """train.val_samples: metrics.csv's validation rows carry the RDKit validity of that many prior
    samples; train.tensorboard: the rows' numbers are TensorBoard scalars too."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    extra = ["train.max_steps=6", "train.val_every_steps=3", "train.val_samples=20", "train.tensorboard=true"]
    assert main(["train", *tiny_overrides(out), *extra]) == 0
    with open(out / "metrics.csv", newline="") as fh:
        val = [r for r in csv.DictReader(fh) if r["split"] == "val"]
    assert len(val) >= 2 and all(0.0 <= float(r["validity"]) <= 1.0 for r in val)
    assert "val_validity" in load_checkpoint(out, which="last").meta["metrics"]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"val/nelbo", "val/validity", "train/loss", "train/beta", "train/lr"} <= tags
    assert [e.step for e in events.Scalars("val/nelbo")] == [int(r["step"]) for r in val]


def test_without_the_tensorboard_package_the_error_says_what_to_install(tmp_path, monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    assert (
        main(["train", *tiny_overrides(tmp_path / "x"), "train.max_steps=2", "train.tensorboard=true"]) == 2
    )
    assert "seqcvae[tensorboard]" in capsys.readouterr().err


def test_a_version_6_config_gains_val_samples_and_tensorboard():
    from seqcvae.config import RunConfig, load_config

    stored = load_config("smiles_tiny").to_dict()
    stored["config_version"] = 6
    del stored["train"]["val_samples"], stored["train"]["tensorboard"]
    cfg = RunConfig.from_stored(stored)
    assert cfg.train.val_samples == 0 and cfg.train.tensorboard is False


def test_a_version_9_config_keeps_val_samples_off():
    """Version 10 made 200 prior samples per validation the default; a version-9 config that
    left val_samples out meant none, and still does."""
    from seqcvae.config import RunConfig

    assert RunConfig.from_dict({"config_version": 9}).train.val_samples == 0
    assert RunConfig.from_dict({"config_version": 9, "train": {"val_samples": 7}}).train.val_samples == 7
    assert RunConfig.from_dict({}).train.val_samples == 200
