"""The table of tuned coordinates (optcompare/coordinates.py): targets, maps both ways, bounds."""

from __future__ import annotations

import pytest

from optcompare.coordinates import (
    COORDINATES,
    EFFECTIVE_LR,
    ONE_MINUS,
    RELATIVE_LR,
    coordinate,
    resolve,
    to_coordinates,
)
from tests.imports import modules_loaded

HPARAMS = {"learning_rate": 0.02, "momentum": 0.9, "beta1": 0.8, "beta2": 0.999, "rho": 0.95, "epsilon": 1e-4}


@pytest.mark.parametrize(
    ("name", "target", "x", "value"),
    [
        ("one_minus_momentum", "momentum", 0.1, 0.9),
        ("one_minus_beta1", "beta1", 0.2, 0.8),
        ("one_minus_beta2", "beta2", 1e-3, 0.999),
        ("one_minus_rho", "rho", 0.05, 0.95),
        (RELATIVE_LR, "learning_rate", 200.0, 200.0 * 1e-4),
        ("weight_decay", "weight_decay", 1e-4, 1e-4),
        ("decay_factor", "decay_factor", 0.01, 0.01),
    ],
)
def test_each_coordinate_maps_to_its_target_and_back(name, target, x, value):
    coord = coordinate(name)
    assert coord.target == target
    assert coord.forward(x, HPARAMS) == pytest.approx(value, rel=1e-12)
    assert coord.inverse(coord.forward(x, HPARAMS), HPARAMS) == pytest.approx(x, rel=1e-9)


def test_the_table_holds_the_one_minus_and_relative_learning_rate_coordinates():
    assert set(COORDINATES) == {*ONE_MINUS, RELATIVE_LR, EFFECTIVE_LR}
    assert {f"one_minus_{k}": k for k in ("momentum", "beta1", "beta2", "rho", "shampoo_beta")} == ONE_MINUS
    assert COORDINATES[RELATIVE_LR].reads == ("epsilon",)
    assert COORDINATES[EFFECTIVE_LR].reads == ("momentum",)
    assert all(not COORDINATES[k].reads for k in ONE_MINUS)


@pytest.mark.parametrize(
    ("name", "inside", "outside"),
    [
        ("one_minus_beta1", [1e-6, 0.5, 1.0], [0.0, 1.5, -0.1]),  # beta1 in [0, 1): 1 - beta1 in (0, 1]
        ("one_minus_rho", [0.0, 1.0], [1.01]),  # rho = 1 is allowed
        (RELATIVE_LR, [1e-9, 1e9], [0.0, -1.0, float("inf")]),
        ("learning_rate", [-1.0, 1e300], []),  # the identity leaves validity to the optimizer
    ],
)
def test_bounds_of_a_coordinate(name, inside, outside):
    bounds = coordinate(name).bounds
    assert all(v in bounds for v in inside)
    assert not any(v in bounds for v in outside)


def test_bounds_in_words():
    assert coordinate(RELATIVE_LR).bounds.phrase() == "> 0"
    assert coordinate("one_minus_momentum").bounds.phrase() == "in (0, 1]"


def test_resolve_maps_after_filling_defaults_and_keeps_schedule_parameters_apart():
    defaults = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0}
    hparams, schedule = resolve(
        {RELATIVE_LR: 1e5, "one_minus_beta1": 0.1, "decay_factor": 0.01}, defaults, ("decay_factor",)
    )
    # learning_rate reads epsilon after the default fills it in
    assert hparams == {"learning_rate": 1e5 * 1e-8, "beta1": 1.0 - 0.1, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0}
    assert schedule == {"decay_factor": 0.01}
    assert list(hparams) == list(defaults)


def test_to_coordinates_inverts_resolve():
    names = ("one_minus_beta1", "one_minus_beta2", RELATIVE_LR, "epsilon", "decay_factor")
    point = {"one_minus_beta1": 0.1, "one_minus_beta2": 1e-3, RELATIVE_LR: 50.0, "epsilon": 1e-3, "decay_factor": 0.1}
    hparams, schedule = resolve(point, {"weight_decay": 0.0}, ("decay_factor",))
    assert to_coordinates(names, hparams, schedule, ("decay_factor",)) == pytest.approx(point, rel=1e-9)
    # as the analysis uses it: 1 - beta and learning_rate / epsilon from the recorded values
    assert to_coordinates(names[:3], hparams) == pytest.approx(
        {"one_minus_beta1": 1 - hparams["beta1"], "one_minus_beta2": 1 - hparams["beta2"],
         RELATIVE_LR: hparams["learning_rate"] / hparams["epsilon"]}, rel=1e-12
    )
    assert "decay_factor" not in to_coordinates(names, hparams, None, ("decay_factor",))


def test_the_coordinates_the_space_and_the_validation_import_without_torch_or_ray():
    code = "import optcompare.coordinates, optcompare.space, optcompare.validation, tuning.plan.trial, tuning.plan.quasirandom"
    assert modules_loaded(code, ("torch", "ray")) == []


def test_the_effective_learning_rate_is_the_rate_over_one_minus_momentum_and_back():
    # learning_rate = x * (1 - momentum): 2.0 at momentum 0.9 is a rate of 0.2; momentum 0 is SGD.
    hparams, _ = resolve({EFFECTIVE_LR: 2.0, "one_minus_momentum": 0.1}, {"learning_rate": 1.0, "momentum": 0.0}, ())
    assert hparams == {"learning_rate": pytest.approx(0.2), "momentum": pytest.approx(0.9)}
    assert to_coordinates([EFFECTIVE_LR], hparams)[EFFECTIVE_LR] == pytest.approx(2.0)
    hparams, _ = resolve({EFFECTIVE_LR: 0.5}, {"learning_rate": 1.0, "momentum": 0.0}, ())
    assert hparams["learning_rate"] == 0.5
    assert 1.0 not in COORDINATES[EFFECTIVE_LR].read_bounds and 0.0 in COORDINATES[EFFECTIVE_LR].read_bounds
