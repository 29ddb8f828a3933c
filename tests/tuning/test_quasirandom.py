"""The sampling contract of ``tuning.plan.quasirandom.sample(space, num_trials, seed)``.

Scrambled Halton points (scipy.stats.qmc.Halton) mapped into the space, one dimension per
hyperparameter in sorted name order; same seed -> same list; prefixes are stable.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import qmc

from optcompare.space import validate_space
from tuning.plan.quasirandom import sample, unit_points

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1.0, "scaling": "log"},
    "one_minus_beta1": {"min": 1e-3, "max": 1.0, "scaling": "log"},
    "decay_steps_factor": {"min": 0.5, "max": 1.0, "scaling": "linear"},
    "batch": {"feasible_points": [16, 32, 64, 128]},
}


def _reference_unit(dims: int, n: int, seed: int) -> np.ndarray:
    return qmc.Halton(dims, scramble=True, rng=np.random.default_rng(seed)).random(n)


def _scale(dim: dict, u: float) -> object:
    """The documented mapping of one unit coordinate (tuning/plan/quasirandom.py docstring)."""
    if "feasible_points" in dim:
        points = dim["feasible_points"]
        return points[math.floor(u * len(points))]
    a, b = dim["min"], dim["max"]
    if dim["scaling"] == "log":
        return math.exp(math.log(a) + u * (math.log(b) - math.log(a)))
    return a + u * (b - a)


# --- determinism and prefix stability ---------------------------------------------------------


def test_same_seed_same_list():
    assert sample(SPACE, 50, 7) == sample(SPACE, 50, 7)


def test_different_seed_different_list():
    a, b = sample(SPACE, 20, 0), sample(SPACE, 20, 1)
    assert a != b
    # Not just one coordinate: the continuous coordinates of (almost) every point differ.
    differing = sum(p["learning_rate"] != q["learning_rate"] for p, q in zip(a, b, strict=True))
    assert differing >= 19


def test_result_is_a_list_of_dicts_with_every_name():
    points = sample(SPACE, 5, 3)
    assert isinstance(points, list)
    assert len(points) == 5
    for point in points:
        assert isinstance(point, dict)
        assert set(point) == set(SPACE)
        for name in ("learning_rate", "one_minus_beta1", "decay_steps_factor"):
            assert isinstance(point[name], float)
        assert point["batch"] in SPACE["batch"]["feasible_points"]


@pytest.mark.parametrize("m", [0, 1, 2, 3, 7, 8, 13, 32, 99, 100])
def test_prefix_stability(m):
    full = sample(SPACE, 100, 11)
    assert full[:m] == sample(SPACE, m, 11)


def test_prefix_stability_over_several_seeds():
    for seed in (0, 1, 2**31 - 1):
        full = sample(SPACE, 64, seed)
        for m in (1, 5, 17, 63):
            assert full[:m] == sample(SPACE, m, seed)


def test_zero_trials_is_empty():
    assert sample(SPACE, 0, 0) == []


def test_negative_trials_is_value_error():
    with pytest.raises(ValueError, match="num_trials"):
        sample(SPACE, -1, 0)


def test_dict_insertion_order_does_not_matter():
    reordered = dict(reversed(list(SPACE.items())))
    assert list(reordered) != list(SPACE)
    assert sample(reordered, 30, 5) == sample(SPACE, 30, 5)


# --- equality with scipy's scrambled Halton through the documented scaling ---------------------


@pytest.mark.parametrize("seed", [0, 1, 123456])
def test_unit_points_equal_scipy_halton(seed):
    ref = _reference_unit(4, 40, seed)
    np.testing.assert_array_equal(unit_points(4, 40, seed), ref)


@pytest.mark.parametrize("seed", [0, 42])
def test_sample_equals_scipy_halton_mapped_in_sorted_name_order(seed):
    n = 40
    names = sorted(SPACE)
    assert names == ["batch", "decay_steps_factor", "learning_rate", "one_minus_beta1"]
    u = _reference_unit(len(names), n, seed)
    expected = [
        {name: _scale(SPACE[name], u[i, j]) for j, name in enumerate(names)} for i in range(n)
    ]
    got = sample(SPACE, n, seed)
    for g, e in zip(got, expected, strict=True):
        assert g["batch"] == e["batch"]
        for name in ("decay_steps_factor", "learning_rate", "one_minus_beta1"):
            assert g[name] == pytest.approx(e[name], rel=1e-12, abs=0.0)


def test_point_zero_is_a_halton_point_not_a_random_draw():
    space = {"x": {"min": 0.0, "max": 1.0, "scaling": "linear"}}
    u0 = _reference_unit(1, 1, 9)[0, 0]
    assert sample(space, 1, 9)[0]["x"] == pytest.approx(u0, abs=1e-15)


# --- scalings ---------------------------------------------------------------------------------


def test_log_scaling_values_and_coverage():
    a, b = 1e-5, 1e1
    space = {"lr": {"min": a, "max": b, "scaling": "log"}}
    values = np.array([p["lr"] for p in sample(space, 256, 3)])
    assert np.all(values >= a)
    assert np.all(values <= b)
    # Log-uniform: half the points below the geometric midpoint, and each decade gets ~1/6.
    geometric_mid = math.sqrt(a * b)
    assert abs(np.mean(values < geometric_mid) - 0.5) <= 0.05
    decades = np.floor(np.log10(values)).astype(int)
    counts = np.bincount(decades - (-5), minlength=6)
    assert counts.sum() == 256
    assert np.all(np.abs(counts / 256 - 1 / 6) <= 0.03)
    # The arithmetic midpoint (~5) is nearly at the top of a log range: few points above it.
    assert np.mean(values > (a + b) / 2) < 0.1


def test_log_scaling_is_exp_of_linear_in_log():
    a, b = 1e-3, 1.0
    space = {"x": {"min": a, "max": b, "scaling": "log"}}
    u = _reference_unit(1, 32, 4)[:, 0]
    got = np.array([p["x"] for p in sample(space, 32, 4)])
    np.testing.assert_allclose(got, np.exp(np.log(a) + u * (np.log(b) - np.log(a))), rtol=1e-12)
    np.testing.assert_allclose(np.log(got / a) / np.log(b / a), u, atol=1e-12)


def test_linear_scaling_values_and_coverage():
    a, b = -2.0, 6.0
    space = {"x": {"min": a, "max": b, "scaling": "linear"}}
    values = np.array([p["x"] for p in sample(space, 256, 8)])
    assert np.all(values >= a)
    assert np.all(values <= b)
    assert abs(np.mean(values < (a + b) / 2) - 0.5) <= 0.05
    u = _reference_unit(1, 256, 8)[:, 0]
    np.testing.assert_allclose(values, a + u * (b - a), rtol=1e-12, atol=1e-12)


def test_integer_bounds_are_accepted_and_give_floats():
    space = {"x": {"min": 1, "max": 3, "scaling": "linear"}}
    values = [p["x"] for p in sample(space, 16, 0)]
    assert all(isinstance(v, float) and 1 <= v <= 3 for v in values)


def test_feasible_points_choose_only_from_list_with_equal_frequency():
    choices = [0.1, 0.3, 1.0, 3.0]
    space = {"lr": {"feasible_points": choices}}
    values = [p["lr"] for p in sample(space, 256, 2)]
    assert set(values) <= set(choices)
    counts = {c: values.count(c) for c in choices}
    # 256 base-2 Halton points stratify exactly: 64 per point; allow a little slack anyway.
    for c in choices:
        assert abs(counts[c] - 64) <= 6, counts


def test_feasible_points_in_a_higher_dimension_equal_frequency():
    choices = ["a", "b", "c"]
    space = {
        "a_first": {"min": 0.0, "max": 1.0, "scaling": "linear"},
        "z_choice": {"feasible_points": choices},  # sorted second -> Halton base 3
    }
    values = [p["z_choice"] for p in sample(space, 243, 5)]
    assert set(values) == set(choices)
    for c in choices:
        assert abs(values.count(c) - 81) <= 8


def test_feasible_points_keep_their_type_and_identity():
    space = {"act": {"feasible_points": ["relu", "tanh"]}, "n": {"feasible_points": [1, 2, 3]}}
    for point in sample(space, 20, 0):
        assert point["act"] in ("relu", "tanh")
        assert isinstance(point["n"], int)


def test_single_feasible_point():
    assert sample({"x": {"feasible_points": [5]}}, 4, 0) == [{"x": 5}] * 4


# --- low discrepancy --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 17, 2024])
def test_one_dimension_64_points_one_per_bin(seed):
    # Scrambled Halton in base 2 (dimension 0) is a (0,1)-sequence: the first 2^k points fall
    # one in each of the 2^k bins of width 2^-k. Verified empirically for scipy's scrambling.
    space = {"x": {"min": 0.0, "max": 1.0, "scaling": "linear"}}
    values = np.array([p["x"] for p in sample(space, 64, seed)])
    bins = np.floor(values * 64).astype(int)
    assert sorted(bins.tolist()) == list(range(64))


@pytest.mark.parametrize("seed", [0, 5])
def test_second_dimension_base_3_stratifies(seed):
    # Dimension 1 uses base 3: the first 81 points fall one in each bin of width 1/81.
    space = {
        "a": {"min": 0.0, "max": 1.0, "scaling": "linear"},
        "b": {"min": 0.0, "max": 1.0, "scaling": "linear"},
    }
    points = sample(space, 81, seed)
    bins_b = sorted(math.floor(p["b"] * 81) for p in points)
    assert bins_b == list(range(81))
    bins_a = sorted(math.floor(p["a"] * 64) for p in points[:64])
    assert bins_a == list(range(64))


def test_two_dimensional_discrepancy_beats_random():
    n = 128
    space = {
        "a": {"min": 0.0, "max": 1.0, "scaling": "linear"},
        "b": {"min": 0.0, "max": 1.0, "scaling": "linear"},
    }
    pts = np.array([[p["a"], p["b"]] for p in sample(space, n, 0)])
    random = np.random.default_rng(0).random((n, 2))
    assert qmc.discrepancy(pts) < qmc.discrepancy(random) / 3


# --- bad spaces -------------------------------------------------------------------------------

BAD_SPACES = [
    (
        {"x": {"min": 1.0, "max": 1.0, "scaling": "linear"}},
        r"space\.x: min \(1\.0\) must be below max",
    ),
    (
        {"x": {"min": 2.0, "max": 1.0, "scaling": "log"}},
        r"space\.x: min \(2\.0\) must be below max",
    ),
    ({"x": {"min": 0.0, "max": 1.0, "scaling": "log"}}, r"space\.x: a log range needs min > 0"),
    ({"x": {"min": -1.0, "max": 1.0, "scaling": "log"}}, r"space\.x: a log range needs min > 0"),
    ({"x": {"min": 0.1, "max": 1.0}}, r"space\.x: missing required key 'scaling'"),
    ({"x": {"scaling": "log"}}, r"space\.x: missing required key 'min'"),
    ({"x": {"min": 0.1, "scaling": "log"}}, r"space\.x: missing required key 'max'"),
    (
        {"x": {"min": 0.1, "max": 1.0, "scaling": "exp"}},
        r"space\.x\.scaling: 'exp' is not one of linear, log",
    ),
    (
        {"x": {"min": 0.1, "max": 1.0, "scaling": "log", "step": 2}},
        r"space\.x: unknown key 'step'; allowed: min, max, scaling, from_trials, num \(or feasible_points in place of min, max, scaling\)$",
    ),
    (
        {"x": {"feasible_points": [1, 2], "min": 0}},
        r"space\.x: unknown key 'min'; allowed: feasible_points, from_trials, num \(or min, max, scaling in place of feasible_points\)$",
    ),
    ({"x": {"feasible_points": []}}, r"space\.x\.feasible_points: expected a non-empty list"),
    ({"x": {"feasible_points": 3}}, r"space\.x\.feasible_points: expected a non-empty list"),
    (
        {"x": {"min": "0.1", "max": 1.0, "scaling": "log"}},
        r"space\.x\.min: expected a finite number, got '0\.1'",
    ),
    (
        {"x": {"min": 0.1, "max": "big", "scaling": "log"}},
        r"space\.x\.max: expected a finite number",
    ),
    (
        {"x": {"min": True, "max": 2.0, "scaling": "linear"}},
        r"space\.x\.min: expected a finite number",
    ),
    (
        {"x": {"min": 0.1, "max": float("inf"), "scaling": "log"}},
        r"space\.x\.max: expected a finite number",
    ),
    (
        {"x": {"min": float("nan"), "max": 1.0, "scaling": "linear"}},
        r"space\.x\.min: expected a finite number",
    ),
    ({"x": 0.5}, r"space\.x: expected \{min, max, scaling\} or \{feasible_points\}"),
    ({}, r"space: expected a non-empty mapping"),
    ([("x", 1)], r"space: expected a non-empty mapping"),
]


@pytest.mark.parametrize(("space", "message"), BAD_SPACES)
def test_bad_space_is_value_error_naming_field(space, message):
    with pytest.raises(ValueError, match=message):
        sample(space, 4, 0)
    with pytest.raises(ValueError, match=message):
        validate_space(space)


def test_dimension_models_are_sampled_like_their_dicts():
    from optcompare.space import Points, Range

    models = {
        "learning_rate": Range(min=1e-4, max=1.0, scaling="log"),
        "batch": Points(feasible_points=[16, 32, 64, 128]),
    }
    as_dicts = {k: SPACE[k] for k in models}
    assert sample(models, 20, 3) == sample(as_dicts, 20, 3)


def test_validate_space_uses_the_given_field_path():
    with pytest.raises(ValueError, match=r"optimizers\.adam\.lr: a log range needs min > 0"):
        validate_space({"lr": {"min": 0, "max": 1, "scaling": "log"}}, where="optimizers.adam")
