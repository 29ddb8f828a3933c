"""The budget bootstrap against an independent brute-force computation, and its draw layout."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.bootstrap import best_of_k, expected_best_of_k


def _brute_force_mean(select, report, valid, k, n_resamples, rng, worst=1.0):
    """Independent implementation: a Python loop, one fresh draw of k trials per resample."""
    n = len(select)
    total = 0.0
    for _ in range(n_resamples):
        drawn = rng.integers(0, n, size=k)
        good = [i for i in drawn if valid[i] and math.isfinite(select[i])]
        total += report[min(good, key=lambda i: (select[i], i))] if good else worst
    return total / n_resamples


@pytest.mark.parametrize("k", [1, 3, 10])
def test_vectorized_bootstrap_matches_brute_force_loop_within_monte_carlo_error(k):
    rng = np.random.default_rng(11)
    select = rng.uniform(size=25)
    report = 0.5 * select + rng.uniform(0, 0.2, size=25)
    valid = rng.uniform(size=25) > 0.3
    curve = best_of_k(select, report, valid, [k], n_resamples=20_000, rng=2)
    brute = _brute_force_mean(select, report, valid, k, 4000, np.random.default_rng(5))
    exact = expected_best_of_k(select, report, valid, k)
    se = curve.samples[0].std() / math.sqrt(4000)
    assert abs(brute - exact) < 5 * se + 1e-12
    assert abs(curve.mean[0] - exact) < 5 * se / math.sqrt(5) + 1e-12


def test_samples_at_a_budget_do_not_depend_on_the_other_budgets():
    rng = np.random.default_rng(0)
    select = rng.uniform(size=40)
    alone = best_of_k(select, select, [True] * 40, [8], n_resamples=300, rng=4)
    many = best_of_k(select, select, [True] * 40, [1, 2, 8, 64, 256], n_resamples=300, rng=4)
    assert np.array_equal(alone.samples[0], many.samples[2])


def test_infinite_worst_with_order_statistic_percentiles():
    # Trial 0 reaches the target in 30 steps, trial 1 never (inf, invalid). K=1: half the
    # resamples score inf. Order-statistic percentiles stay defined (no inf - inf = nan).
    steps = np.array([30.0, np.inf])
    curve = best_of_k(steps, steps, np.isfinite(steps), [1, 4], n_resamples=4000, worst=math.inf,
                      rng=0, percentile_method="inverted_cdf")
    assert curve.p05[0] == 30.0 and curve.p95[0] == math.inf
    assert np.mean(np.isinf(curve.samples[0])) == pytest.approx(0.5, abs=0.03)
    # K=4: inf only when all four draws are trial 1, P = 1/16.
    assert np.mean(np.isinf(curve.samples[1])) == pytest.approx(1 / 16, abs=0.015)
    assert not np.isnan(curve.p05).any() and not np.isnan(curve.p95).any()


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_draws_in_blocks_give_the_samples_of_one_block(monkeypatch, chunk):
    # Memory stays bounded for large K * B: draws come in blocks of CHUNK_DRAWS numbers, and the
    # generator's stream, so every sample, is that of one (K_max, B) block.
    import analysis.bootstrap as bootstrap

    rng = np.random.default_rng(1)
    select, report = rng.uniform(size=13), rng.uniform(size=13)
    valid = rng.uniform(size=13) > 0.2
    budgets = [1, 3, 4, 20, 50]
    whole = best_of_k(select, report, valid, budgets, n_resamples=9, rng=6)
    order = np.lexsort((np.arange(13), np.where(valid, select, np.inf)))
    draws = np.random.default_rng(6).integers(0, 13, size=(50, 9))  # the layout of the module doc
    rank_of = np.argsort(order)
    expected = np.where(valid[order], report[order], 1.0)[np.minimum.accumulate(rank_of[draws], axis=0)[np.array(budgets) - 1]]
    np.testing.assert_array_equal(whole.samples, expected)
    monkeypatch.setattr(bootstrap, "CHUNK_DRAWS", chunk)
    blocked = best_of_k(select, report, valid, budgets, n_resamples=9, rng=6)
    np.testing.assert_array_equal(blocked.samples, whole.samples)
