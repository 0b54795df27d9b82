"""The parts of the trainer on their own: the step's masks and loss (training/policy.py), the
budget's step count (training/budget.py) and the metrics.csv writer (training/metrics_log.py)."""

from __future__ import annotations

import csv

import pytest
import torch

from seqcvae.config import TrainConfig
from seqcvae.tokenizers.base import BOS, PAD, UNK
from seqcvae.training import policy
from seqcvae.training.budget import CALIBRATION_STEPS, Budget, step_bound
from seqcvae.training.metrics_log import METRIC_COLUMNS, MetricsLog


def test_word_dropout_keeps_pad_and_bos_and_is_off_at_zero():
    inputs = torch.tensor([[BOS, 7, 8, 9, PAD, PAD]] * 50)
    gen = torch.Generator().manual_seed(0)
    out = policy.word_dropout(inputs, 0.9, gen)
    assert (out[:, 0] == BOS).all() and (out[:, 4:] == PAD).all()
    assert (out[:, 1:4] == UNK).float().mean() > 0.8
    before = gen.get_state()
    assert policy.word_dropout(inputs, 0.0, gen) is inputs
    assert torch.equal(gen.get_state(), before)  # p = 0 draws nothing: the stream stays in step


def test_condition_dropout_hides_conditions_and_is_off_at_zero():
    present, tags = torch.ones(400, 2), torch.full((400, 1), 3)
    gen = torch.Generator().manual_seed(0)
    p2, t2 = policy.condition_dropout(present, tags, 0.5, gen)
    assert 0.4 < float(p2.mean()) < 0.6 and set(t2.unique().tolist()) == {0, 3}
    before = gen.get_state()
    assert policy.condition_dropout(present, tags, 0.0, gen) == (present, tags)
    assert torch.equal(gen.get_state(), before)


def test_step_loss_is_per_token_and_scaled_by_process_count():
    rec = torch.tensor([10.0, 20.0])
    kl_dim = torch.tensor([[0.5, 0.0], [1.5, 0.0]])
    assert float(policy.step_loss(rec, kl_dim, 0.5, 0.0, 1, 10)) == pytest.approx((30 + 0.5 * 2) / 10)
    # free bits floor each dimension's batch-mean KL: dimension 2 counts 0.25 per row
    assert float(policy.step_loss(rec, kl_dim, 1.0, 0.25, 2, 10)) == pytest.approx((30 + 2 * 1.25) * 2 / 10)


def test_step_bound_and_step_budget():
    t = TrainConfig(epochs=3, max_steps=0)
    assert step_bound(t, 9) == 27
    assert step_bound(TrainConfig(epochs=3, max_steps=20), 9) == 20
    b = Budget(t, log=lambda _m: None)
    b.start(0, 0.0, 27)
    assert b.plan is not None and b.plan.steps == 27 and b.schedule_steps == 27
    assert not b.exhausted(26, 1e9) and b.exhausted(27, 0.0)


def test_time_budget_is_planned_after_calibration():
    t = TrainConfig(epochs=100, max_steps=0, max_minutes=1.0)
    logged: list[str] = []
    b = Budget(t, log=logged.append)
    b.start(0, 0.0, 10_000)
    assert b.plan is None and b.schedule_steps is None
    for step in range(1, CALIBRATION_STEPS + 1):
        b.record(0.5, step, 0.5 * step, 10_000)
        assert (b.plan is None) == (step < CALIBRATION_STEPS)
    assert b.plan is not None and b.plan.steps == 120 and b.plan.step_seconds == 0.5
    assert "120 steps" in logged[0]
    assert b.exhausted(60, 60.0)  # the wall clock still stops the run
    # a resume with another budget keeps the schedule but not its end
    other = Budget(TrainConfig(epochs=100, max_steps=0, max_minutes=2.0), log=logged.append)
    other.plan = b.plan
    other.start(120, 60.0, 10_000)
    assert other.planned_steps() is None and other.schedule_steps == 120 and "differs" in logged[-1]


def test_metrics_log_keeps_an_existing_header(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path)
    log.write({"step": 1, "split": "train", "loss": 1.23456789})
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == METRIC_COLUMNS and rows[1][METRIC_COLUMNS.index("loss")] == "1.23457"
    path.write_text("step,split\n")  # an older run's narrower header
    log.write({"step": 2, "split": "val", "loss": 2.0})
    assert path.read_text().splitlines() == ["step,split", "2,val"]


def test_the_progress_bar_counts_the_steps_the_budget_allows():
    """A time budget: no total while the first steps are timed (not the epochs' bound, which the
    clock cuts short), then the planned step count; a step budget: its count from the start."""
    timed = Budget(TrainConfig(max_minutes=1.0, epochs=100), log=lambda _m: None)
    timed.start(0, 0.0, bound=18_600)
    assert timed.expected_steps(18_600) is None
    for step in range(1, 21):
        timed.record(0.5, step, 0.5 * step, 18_600)
    assert timed.expected_steps(18_600) == timed.plan.steps < 200
    steps = Budget(TrainConfig(max_steps=300, epochs=100), log=lambda _m: None)
    steps.start(0, 0.0, bound=300)
    assert steps.expected_steps(300) == 300


@pytest.mark.parametrize("decoupled", [True, False], ids=["adamw", "adam"])
def test_the_fused_optimizer_takes_the_default_kernels_steps(decoupled):
    """build.adam: torch's fused Adam(W) on the CPU, with the same hyperparameters, so the same
    updates as the per-operation default (training's AdamW and tuning's Adam)."""
    from seqcvae.training.build import adam

    torch.manual_seed(0)
    fused = [torch.nn.Parameter(torch.randn(7, 5)), torch.nn.Parameter(torch.randn(5))]
    plain = [torch.nn.Parameter(p.detach().clone()) for p in fused]
    start = [p.detach().clone() for p in fused]
    opt = adam(fused, decoupled=decoupled, lr=1e-2, weight_decay=0.1)
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    ref = kind(plain, lr=1e-2, weight_decay=0.1)
    assert type(opt) is kind and opt.defaults["fused"] is True
    for _ in range(3):
        grads = [torch.randn_like(p) for p in fused]
        for p, q, g in zip(fused, plain, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    for p, q, p0 in zip(fused, plain, start):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-6)
        assert (p - p0).abs().min() > 1e-3  # every element moved
