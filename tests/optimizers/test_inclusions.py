"""Inclusions (Choi et al. 2019, section 3): mappings as code, checked by 200-step trajectories."""

from __future__ import annotations

import pytest

import optimizers
from optimizers import (
    Inclusion,
    check_inclusion,
    imitate,
    inclusion_path,
    limit_gap,
    list_inclusions,
    register_inclusion,
    trajectory_gap,
)

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
def test_exact_inclusions_reproduce_the_trajectory(narrow, wide, hparams, schedule, record_property):
    assert imitate(narrow, wide, hparams).exact
    gap = trajectory_gap(narrow, wide, hparams, schedule=schedule, steps=200)
    record_property("gap", gap)
    print(f"\n{narrow} <= {wide} (exact): gap {gap:.2e}")
    assert gap < 1e-12


def _report(record_property, check) -> None:
    """Show the gaps per epsilon in pytest -rP output (a table) and in junit XML (properties)."""
    for eps, gap in check:
        record_property(f"gap_at_epsilon_{eps:.0e}", gap)
    record_property("verdict", check.reason)
    print(f"\n{check.narrow} <= {check.wide}")
    print("  epsilon " + "".join(f"{eps:>10.0e}" for eps, _ in check))
    print("  gap     " + "".join(f"{gap:>10.2e}" for _, gap in check))
    print(f"  {'passed' if check.passed else 'FAILED'}: {check.reason}")


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
def test_limit_inclusions_converge_as_epsilon_grows(narrow, wide, hparams, schedule, record_property):
    assert not imitate(narrow, wide, hparams).exact
    check = check_inclusion(narrow, wide, hparams, EPSILONS, schedule=schedule, steps=200)
    _report(record_property, check)
    assert check.passed and not check.exact, check.reason
    gaps = [gap for _, gap in check]
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


def test_rmsprop_constant_rate_check_sees_every_step():
    """A rate that differs at one step only is caught, wherever that step is (not sampled)."""
    def blip(t: int) -> float:
        return 0.06 if t == 7777 else 0.05

    with pytest.raises(ValueError, match="only for a constant learning rate"):
        imitate("momentum", "rmsprop", {"learning_rate": 0.05}, blip, horizon=10_000)
    # Steps past the horizon are not checked, as documented.
    assert imitate("momentum", "rmsprop", {"learning_rate": 0.05}, blip, horizon=7777).exact


# --------------------------------------------------------------------------------------------
# check_inclusion's verdict
# --------------------------------------------------------------------------------------------


def test_check_inclusion_passes_an_exact_inclusion_with_a_reason():
    check = check_inclusion("sgd", "momentum", {"learning_rate": 0.1}, (1e2,), steps=50)
    assert check.exact and check.passed
    assert "exact inclusion" in check.reason and "tolerance 1e-10" in check.reason
    assert [eps for eps, _ in check] == [1e2] and len(check) == 1 and check[0][0] == 1e2


def test_a_wrong_exact_mapping_fails(isolated_registries, record_property):
    # Declared exact, but momentum = 0.5 instead of 0: the trajectories part at once.
    register_inclusion(
        Inclusion("sgd", "momentum", lambda hp, sched, eps: ({**hp, "momentum": 0.5}, sched), exact=True),
        overwrite=True,
    )
    check = check_inclusion("sgd", "momentum", {"learning_rate": 0.1}, (1e2,), steps=50)
    _report(record_property, check)
    assert not check.passed
    assert "declared exact, but the gap is" in check.reason and "> tolerance 1e-10" in check.reason


def test_a_wrong_limit_mapping_fails(isolated_registries, record_property):
    # Forgets the factor (1 - beta1^(t+1)) / (1 - beta1) of alpha_t: as eps grows the update
    # tends to eta * (EMA of g), not eta * (heavy-ball sum), and the gap stops shrinking.
    def wrong(hp, sched, eps):
        wide = {"learning_rate": sched(0) * eps, "beta1": hp["momentum"], "beta2": 0.0, "epsilon": eps}
        return wide, lambda t: sched(t) * eps

    register_inclusion(Inclusion("momentum", "adam", wrong, exact=False), overwrite=True)
    check = check_inclusion("momentum", "adam", {"learning_rate": 0.05, "momentum": 0.9}, (1e2, 1e4, 1e6), steps=50)
    _report(record_property, check)
    assert not check.passed and not check.exact
    assert "limit inclusion" in check.reason


@pytest.mark.parametrize(
    ("gaps", "passed", "reason"),
    [
        ({1e2: 1e-4, 1e4: 1e-6, 1e6: 1e-8}, True, "falls monotonically"),
        ({1e6: 1e-8, 1e2: 1e-4, 1e4: 1e-6}, True, "falls monotonically"),  # order given does not matter
        ({1e2: 1e-13, 1e4: 2e-13}, True, "converged to rounding level"),  # at rounding level already
        ({1e2: 1e-4, 1e4: 2e-4, 1e6: 1e-8}, False, "does not shrink"),
        ({1e2: 1e-4, 1e4: 9e-5, 1e6: 8e-5}, False, "last/first = 0.8 > 0.01"),
        ({1e2: 1e-4, 1e4: float("nan")}, False, "not finite"),
        ({1e2: 1e-4}, False, "two or more distinct epsilons"),
    ],
)
def test_limit_verdict_rules(monkeypatch, gaps, passed, reason):
    import optimizers.inclusion_check as inclusion_check

    monkeypatch.setattr(inclusion_check, "trajectory_gap", lambda *a, epsilon, **k: gaps[epsilon])
    check = check_inclusion("momentum", "adam", {"learning_rate": 0.1}, tuple(gaps))
    assert check.passed is passed
    assert reason in check.reason and check.reason.startswith("momentum <= adam: ")


def test_limit_verdict_refuses_repeated_epsilons(monkeypatch):
    import optimizers.inclusion_check as inclusion_check

    gaps = {1e2: 1e-4, 1e4: 1e-6}
    monkeypatch.setattr(inclusion_check, "trajectory_gap", lambda *a, epsilon, **k: gaps[epsilon])
    check = check_inclusion("momentum", "adam", {"learning_rate": 0.1}, (1e2, 1e4, 1e4))
    assert not check.passed and "each epsilon once" in check.reason


def test_check_inclusion_refuses_bad_settings():
    with pytest.raises(ValueError, match=r"shrink=2.*0 < shrink <= 1"):
        check_inclusion("sgd", "momentum", {"learning_rate": 0.1}, shrink=2)
    with pytest.raises(ValueError, match="epsilons is empty"):
        check_inclusion("sgd", "momentum", {"learning_rate": 0.1}, ())


# --------------------------------------------------------------------------------------------
# Recorded limit gaps (quoted by the space-inclusion check)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inclusion", [i for i in list_inclusions() if i.recorded_gap is not None], ids=lambda i: f"{i.narrow}<={i.wide}")
def test_recorded_limit_gaps_are_what_check_inclusion_measures(inclusion):
    epsilon, recorded = inclusion.recorded_gap
    check = check_inclusion(inclusion.narrow, inclusion.wide, {"learning_rate": 0.1, "momentum": 0.9}, (epsilon,))
    assert check[0][1] == pytest.approx(recorded, rel=0.05)


def test_every_limit_inclusion_records_its_gap():
    assert [(i.narrow, i.wide) for i in list_inclusions() if not i.exact and i.recorded_gap is None] == []


def test_limit_gap_scales_as_one_over_epsilon_and_sums_along_a_chain():
    assert limit_gap("sgd", "momentum", 1.0) == 0.0
    assert limit_gap("momentum", "adam", 1e2) == pytest.approx(3.9e-4)
    assert limit_gap("momentum", "adam", 1e8) == pytest.approx(3.9e-10)
    # sgd -> momentum (exact) -> adam (limit): the limit step alone.
    assert limit_gap("sgd", "adam", 1e4) == pytest.approx(3.9e-6)
