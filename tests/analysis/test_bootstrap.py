"""Best-of-K bootstrap: hand-computed cases, the exact expectation, and the selection rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.bootstrap import best_of_k, expected_best_of_k
from optcompare.errors import InputError


def test_budget_one_mean_is_average_of_reported_metric():
    # With K = 1 the "best" trial is a uniform draw: E = mean(report) = (0.1 + 0.2 + 0.3) / 3.
    curve = best_of_k([3.0, 1.0, 2.0], [0.1, 0.2, 0.3], [True] * 3, [1], n_resamples=200_000, rng=1)
    assert curve.mean[0] == pytest.approx(0.2, abs=2e-3)


def test_hand_computed_expectation_for_two_trials():
    # Trials: A (select 1, report 0.5) and B (select 2, report 0.9). Best of K=2 draws is B only
    # when both draws are B: P = 1/4. E = 0.75 * 0.5 + 0.25 * 0.9 = 0.6.
    assert expected_best_of_k([1.0, 2.0], [0.5, 0.9], [True, True], 2) == pytest.approx(0.6)
    curve = best_of_k([1.0, 2.0], [0.5, 0.9], [True, True], [2], n_resamples=200_000, rng=0)
    assert curve.mean[0] == pytest.approx(0.6, abs=3e-3)


@pytest.mark.parametrize("k", [1, 2, 4, 8, 16, 32])
def test_monte_carlo_matches_closed_form(k):
    rng = np.random.default_rng(5)
    select = rng.uniform(size=50)
    report = select + rng.normal(scale=0.05, size=50)
    valid = rng.uniform(size=50) > 0.2
    exact = expected_best_of_k(select, report, valid, k)
    curve = best_of_k(select, report, valid, [k], n_resamples=40_000, rng=3)
    se = curve.samples[0].std() / math.sqrt(40_000)
    assert abs(curve.mean[0] - exact) < 5 * se + 1e-12


def test_invalid_trials_are_never_selected_while_a_valid_one_is_drawn():
    # The diverged trial has the lowest selection value but must never be picked; a draw of only
    # diverged trials scores `worst`. Best of 2: worst only when both draws are the invalid one.
    select = [0.0, 0.5]
    report = [0.0, 0.4]
    valid = [False, True]
    assert expected_best_of_k(select, report, valid, 2, worst=1.0) == pytest.approx(0.25 * 1.0 + 0.75 * 0.4)
    curve = best_of_k(select, report, valid, [1, 2, 8], n_resamples=5000, rng=0)
    assert set(np.unique(curve.samples)) <= {0.4, 1.0}


def test_nan_selection_metric_counts_as_invalid():
    curve = best_of_k([math.nan, 0.3], [0.0, 0.7], [True, True], [64], n_resamples=100, rng=0)
    assert np.all(curve.samples == 0.7)


def test_budgets_share_draws_and_improve_monotonically():
    rng = np.random.default_rng(0)
    select = rng.uniform(size=30)
    curve = best_of_k(select, select, [True] * 30, [1, 2, 4, 8, 16], n_resamples=1000, rng=0)
    assert list(curve.budgets) == [1, 2, 4, 8, 16]
    # Per resample, a longer prefix can only find an equal or better trial.
    assert np.all(np.diff(curve.samples, axis=0) <= 0)
    assert np.all(curve.p05 <= curve.mean) and np.all(curve.mean <= curve.p95)


def test_seeded_results_are_reproducible():
    a = best_of_k([1, 2, 3], [1, 2, 3], [True] * 3, [2], n_resamples=100, rng=7)
    b = best_of_k([1, 2, 3], [1, 2, 3], [True] * 3, [2], n_resamples=100, rng=7)
    assert np.array_equal(a.samples, b.samples)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"select": [], "report": [], "valid": []}, "no trials"),
        ({"select": [1.0], "report": [1.0, 2.0], "valid": [True]}, "equal length"),
        ({"budgets": [0]}, "budgets must be >= 1, got 0"),
        ({"budgets": []}, "budgets is empty"),
        ({"budgets": [2.5]}, "budgets must be an integer number of trials, got 2.5"),
        ({"n_resamples": 0}, "n_resamples must be >= 1, got 0"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"select": [1.0], "report": [1.0], "valid": [True], "budgets": [1], "n_resamples": 10}
    args.update(kwargs)
    budgets = args.pop("budgets")
    with pytest.raises(InputError, match=match):
        best_of_k(args.pop("select"), args.pop("report"), args.pop("valid"), budgets, **args)
