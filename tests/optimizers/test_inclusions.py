"""Inclusions (PAPER.md section 3): mappings as code, checked by 200-step trajectories."""

from __future__ import annotations

import pytest

import optimizers
from optimizers import check_inclusion, imitate, inclusion_path, trajectory_gap

LINEAR = optimizers.make_schedule("linear_decay", 0.05, 200, decay_steps_factor=1.0, decay_factor=0.01)
EPSILONS = (1e2, 1e4, 1e6, 1e8)


@pytest.mark.parametrize(
    ("narrow", "wide", "hparams", "schedule"),
    [
        ("sgd", "momentum", {"learning_rate": 0.1}, LINEAR),
        ("sgd", "nesterov", {"learning_rate": 0.1, "weight_decay": 1e-3}, LINEAR),
        ("momentum", "rmsprop", {"learning_rate": 0.05, "momentum": 0.9}, None),
        ("momentum", "rmsprop", {"learning_rate": 0.05, "momentum": 0.0, "decoupled_weight_decay": 0.01}, None),
    ],
)
def test_exact_inclusions_reproduce_the_trajectory(narrow, wide, hparams, schedule):
    assert imitate(narrow, wide, hparams).exact
    assert trajectory_gap(narrow, wide, hparams, schedule=schedule, steps=200) < 1e-12


# Measured on the 10-32-32-3 float64 network, 200 steps (relative parameter distance, max over
# the run): the gap falls by 100x per 100x epsilon, as the O(|g| / eps) error term predicts.
#   momentum <= adam (gamma 0.9, linear decay): 5.1e-05, 5.1e-07, 5.1e-09, 5.1e-11
#   nesterov <= nadam (gamma 0.9, constant):    1.1e-04, 1.1e-06, 1.1e-08, 1.1e-10
#   sgd <= adam (chain via momentum, constant): 4.7e-05, 4.7e-07, 4.7e-09, 4.7e-11
@pytest.mark.parametrize(
    ("narrow", "wide", "hparams", "schedule"),
    [
        ("momentum", "adam", {"learning_rate": 0.05, "momentum": 0.9}, LINEAR),
        ("nesterov", "nadam", {"learning_rate": 0.05, "momentum": 0.9}, None),
        ("sgd", "adam", {"learning_rate": 0.1}, None),
        ("sgd", "nadam", {"learning_rate": 0.1, "weight_decay": 1e-3}, LINEAR),
        ("momentum", "adam", {"learning_rate": 0.02, "momentum": 0.0}, None),
    ],
)
def test_limit_inclusions_converge_as_epsilon_grows(narrow, wide, hparams, schedule):
    assert not imitate(narrow, wide, hparams).exact
    gaps = [gap for _, gap in check_inclusion(narrow, wide, hparams, EPSILONS, schedule=schedule, steps=200)]
    assert gaps[0] < 1e-2
    for before, after in zip(gaps, gaps[1:], strict=False):
        assert after < before / 50  # ~100x per 100x epsilon
    assert gaps[-1] < 1e-9


def test_momentum_and_nesterov_do_not_include_each_other():
    for a, b in (("momentum", "nesterov"), ("nesterov", "momentum"), ("adam", "sgd"), ("nesterov", "adam")):
        with pytest.raises(ValueError, match=f"no registered inclusion {a} <= {b}"):
            inclusion_path(a, b)


def test_chains_follow_the_paper():
    assert [i.wide for i in inclusion_path("sgd", "rmsprop")] == ["momentum", "rmsprop"]
    assert [i.wide for i in inclusion_path("sgd", "nadam")] == ["nesterov", "nadam"]
    assert imitate("sgd", "adam", {"learning_rate": 0.1}).path == ("sgd", "momentum", "adam")


def test_adam_imitation_hyperparameters_by_hand():
    # momentum (eta=0.1, gamma=0.9) -> adam with eps=1e6: beta1 0.9, beta2 0,
    # alpha_t = eta * eps * (1 - 0.9^(t+1)) / (1 - 0.9): alpha_0 = 1e5, alpha_1 = 1.9e5.
    im = imitate("momentum", "adam", {"learning_rate": 0.1, "momentum": 0.9}, epsilon=1e6)
    assert im.hparams["beta1"] == 0.9 and im.hparams["beta2"] == 0.0 and im.hparams["epsilon"] == 1e6
    assert im.schedule(0) == pytest.approx(1e5)
    assert im.schedule(1) == pytest.approx(1.9e5)
    assert im.hparams["learning_rate"] == im.schedule(0)


def test_rmsprop_inclusion_refuses_a_varying_learning_rate():
    with pytest.raises(ValueError, match="only for a constant learning rate"):
        imitate("momentum", "rmsprop", {"learning_rate": 0.05}, LINEAR, horizon=200)


def test_adam_inclusion_refuses_decoupled_weight_decay():
    with pytest.raises(ValueError, match="decoupled_weight_decay must be 0"):
        imitate("momentum", "adam", {"learning_rate": 0.05, "decoupled_weight_decay": 0.1})


def test_bad_narrow_hyperparameters_are_reported():
    with pytest.raises(ValueError, match="momentum=1.5 is out of range"):
        imitate("momentum", "adam", {"learning_rate": 0.05, "momentum": 1.5})
