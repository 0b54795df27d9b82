import math

import pytest

from seqcvae.training.annealing import beta_at, lr_at, steps_for_budget


def test_constant():
    assert beta_at(0, "constant", 0.5) == 0.5
    assert beta_at(10**6, "constant", 0.5) == 0.5


def test_linear_known_values():
    assert beta_at(0, "linear", 1.0, 1000) == 0.0
    assert beta_at(250, "linear", 1.0, 1000) == 0.25
    assert beta_at(1000, "linear", 1.0, 1000) == 1.0
    assert beta_at(5000, "linear", 0.5, 1000) == 0.5


def test_logistic_known_values():
    assert beta_at(500, "logistic", 1.0, 1000) == pytest.approx(0.5)
    assert beta_at(0, "logistic", 1.0, 1000) == pytest.approx(1 / (1 + math.exp(5)))
    assert beta_at(1000, "logistic", 1.0, 1000) == pytest.approx(1 / (1 + math.exp(-5)))
    values = [beta_at(s, "logistic", 1.0, 1000) for s in range(0, 2000, 100)]
    assert values == sorted(values)


def test_cyclical_known_values():
    kw = dict(kl_max=1.0, cycle_steps=100, cycle_ratio=0.5)
    assert beta_at(0, "cyclical", **kw) == 0.0
    assert beta_at(25, "cyclical", **kw) == 0.5
    assert beta_at(50, "cyclical", **kw) == 1.0
    assert beta_at(99, "cyclical", **kw) == 1.0
    assert beta_at(100, "cyclical", **kw) == 0.0
    assert beta_at(125, "cyclical", **kw) == 0.5


def test_bad_schedule_and_step():
    with pytest.raises(ValueError, match="sigmoid"):
        beta_at(0, "sigmoid")
    with pytest.raises(ValueError):
        beta_at(-1, "linear")


def test_lr_warmup_then_cosine_over_the_step_count():
    assert lr_at(0, 200, 1e-3, 1e-4, 10, "cosine") == pytest.approx(1e-4)
    assert lr_at(9, 200, 1e-3, 1e-4, 10, "cosine") == pytest.approx(1e-3)
    assert lr_at(100, 200, 1e-3, 1e-4, 10, "cosine") == pytest.approx(5.5e-4)
    assert lr_at(200, 200, 1e-3, 1e-4, 10, "cosine") == pytest.approx(1e-4)
    assert lr_at(500, 200, 1e-3, 1e-4, 10, "cosine") == pytest.approx(1e-4)  # held after the end
    assert lr_at(140, 200, 1e-3, 1e-4, 10, "constant") == 1e-3


def test_lr_before_the_step_count_is_known():
    """Under a time budget the count is planned after the first steps: until then, warm-up and lr."""
    assert lr_at(3, None, 1e-3, 1e-4, 10, "cosine") == pytest.approx(4e-4)
    assert lr_at(15, None, 1e-3, 1e-4, 10, "cosine") == 1e-3


def test_steps_for_a_time_budget():
    # 10 steps took 5 s; the rest of a 60 s budget at the median step time (0.5 s): 110 more.
    times = [3.0, 0.5, 0.5, 0.4, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert steps_for_budget(10, 5.0 + 1.0, 60.0, times) == 10 + 108
    assert steps_for_budget(10, 70.0, 60.0, times) == 10  # already over budget: stop now
    assert steps_for_budget(10, 5.0, 60.0, []) == 10 + 110  # no step timed here: the run's mean


def test_the_learning_rate_never_rises_above_train_lr():
    """train.min_lr above train.lr (a user lowering lr alone, under the default min_lr) caps at lr:
    the cosine schedule must not raise the LR towards min_lr."""
    rates = [lr_at(s, 100, 1e-7, 2e-4, 0, "cosine") for s in range(120)]
    assert max(rates) == 1e-7
    assert lr_at(50, 100, 1e-3, 1e-4, 0, "cosine") == pytest.approx(5.5e-4)
