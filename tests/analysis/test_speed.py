"""Steps to target, metrics at a shorter step budget, and the ordering's robustness."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from analysis import align_curves, group_searches, load_results, metrics_at_step, steps_to_target
from analysis.speed import goodman_kruskal_gamma, ordering_robustness, speed_rankings
from tests.analysis.synthetic import trial, write_experiment


def test_speed_ranking_hand_case(tmp_path):
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "fast"): [trial(0.4, steps_to_target=20), trial(0.6, steps_to_target=None, curve=[(100, 0.6)]),
                             trial(0.45, steps_to_target=40)],
        ("w", "p", "slow"): [trial(0.4, steps_to_target=80), trial(0.4, steps_to_target=80)],
        ("w", "p", "never"): [trial(0.7, curve=[(100, 0.7)]), trial(float("nan"), status="diverged", steps_to_target=10)],
    })
    searches = group_searches(load_results(str(exp), curves=False).trials)
    (ranking,) = speed_rankings(searches, 2, meta={"workloads": [{"name": "w", "target_value": 0.5}]},
                                n_resamples=20_000, seed=3)
    assert ranking.target == 0.5 and ranking.target_metric == "val_error"  # none recorded: the default
    fast, slow, never = ranking.optimizers
    assert [fast.optimizer, slow.optimizer, never.optimizer] == ["fast", "slow", "never"]
    # fast: best of 2 draws from {20, never, 40}: 20 with P = 1 - (2/3)^2 = 5/9, so the median
    # is 20; the draw misses the target only when both draws are the never-reaching trial: 1/9.
    # P(never) = 1/9 > 5%, so the 95th percentile is "never".
    assert fast.median == 20 and fast.p05 == 20 and fast.p95 == math.inf
    assert fast.p_reached == pytest.approx(8 / 9, abs=0.01)
    assert fast.mean == math.inf and (fast.n_trials, fast.n_reached) == (3, 2)
    assert (slow.median, slow.mean, slow.p_reached) == (80, 80, 1.0)
    # The diverged trial reached the target before diverging, but only completed trials count.
    assert never.median == math.inf and never.p_reached == 0.0 and never.n_reached == 0


@pytest.fixture
def curved(tmp_path):
    searches = {
        ("w", "p", "a"): [
            trial(0.2, curve=[(20, 0.8), (40, 0.6), (60, 0.4), (80, 0.3), (100, 0.2)]),
            trial(float("nan"), status="diverged", curve=[(20, 0.5), (40, 0.45), (60, 0.9)]),
            trial(float("nan"), status="failed"),
            trial(0.9, attempt=0, index=3, curve=[(20, 0.9), (40, 0.9)]),
            trial(0.3, attempt=1, index=3, curve=[(20, 0.35), (40, 0.3)]),
        ],
    }
    exp = write_experiment(tmp_path / "exp", searches)
    loaded = load_results(str(exp))
    found = group_searches(loaded.trials)
    return found[("w", "p", "a")], align_curves(loaded.curves, found)[("w", "p", "a")]


def test_metrics_at_a_shorter_step_budget(curved):
    search, sc = curved
    assert list(search.status) == ["completed", "diverged", "failed", "completed"]
    values, valid = metrics_at_step(search, sc, 50, ("val_error", "test_error"))
    np.testing.assert_allclose(values["val_error"], [0.6, 0.45, np.nan, 0.3])
    np.testing.assert_allclose(values["test_error"], [0.61, 0.46, np.nan, 0.31])
    assert list(valid) == [True, True, False, True]
    # At S = 60 the diverged trial has diverged (its post-divergence row at 60 is never used).
    values, valid = metrics_at_step(search, sc, 60, ("val_error",))
    np.testing.assert_allclose(values["val_error"], [0.4, 0.45, np.nan, 0.3])
    assert list(valid) == [True, False, False, True]
    # Before any evaluation nothing is valid.
    _, valid = metrics_at_step(search, sc, 10, ("val_error",))
    assert not valid.any()


def test_steps_to_target_from_curves(curved):
    search, sc = curved
    np.testing.assert_array_equal(steps_to_target(sc, search.n_trials, 0.5), [60, 20, np.inf, 20])
    np.testing.assert_array_equal(steps_to_target(sc, search.n_trials, 0.25), [100, np.inf, np.inf, np.inf])
    # Only the latest attempt counts: attempt 0 of trial 3 never got below 0.9.
    np.testing.assert_array_equal(steps_to_target(sc, search.n_trials, 0.9), [20, 20, np.inf, 20])


def test_steps_to_target_on_a_loss_target(curved):
    # A language model's target is a validation loss: steps to target must read val_loss, not
    # val_error. Here val_loss = 10 x val_error, so target 5.0 on the loss is target 0.5 on the error.
    search, sc = curved
    lossy = dataclasses.replace(sc, columns={**sc.columns, "val_loss": 10 * sc.columns["val_error"]})
    np.testing.assert_array_equal(steps_to_target(lossy, search.n_trials, 5.0, "val_loss"), [60, 20, np.inf, 20])
    # Read on the error, 5.0 is reached at the first evaluation: the metric matters.
    np.testing.assert_array_equal(steps_to_target(lossy, search.n_trials, 5.0), [20, 20, np.inf, 20])


def test_robustness_reads_the_target_metric_experiment_json_records(curved):
    search, sc = curved
    lossy = dataclasses.replace(sc, columns={**sc.columns, "val_loss": 10 * sc.columns["val_error"]})
    meta = {"workloads": [{"name": "w", "steps": 100, "target_metric": "val_loss", "target_value": 5.0}]}
    (rb,) = ordering_robustness({search.key: search}, {search.key: lossy}, 1, meta=meta,
                                targets=[4.0], n_resamples=20)
    # Only trial 0 (completed) counts: its val_loss reaches 4.0 at step 60 (val_error 0.4).
    (check,) = rb.by_target
    assert check.values[0] == 60.0
    (speed,) = speed_rankings({search.key: search}, 1, meta=meta, n_resamples=20)
    assert (speed.target, speed.target_metric) == (5.0, "val_loss")


def test_curves_reproduce_the_trials_column(tmp_path):
    rng = np.random.default_rng(0)
    exp = write_experiment(tmp_path / "exp", {("w", "p", "o"): [trial(float(e)) for e in rng.uniform(0.1, 0.8, 12)]})
    loaded = load_results(str(exp))
    searches = group_searches(loaded.trials)
    s = searches[("w", "p", "o")]
    sc = align_curves(loaded.curves, searches)[("w", "p", "o")]
    recorded = np.where(np.isnan(s.column("steps_to_target")), np.inf, s.column("steps_to_target"))
    np.testing.assert_array_equal(steps_to_target(sc, s.n_trials, 0.5), recorded)
    values, valid = metrics_at_step(s, sc, 100, ("val_error",))
    np.testing.assert_allclose(values["val_error"], s.column("final_val_error"))
    assert valid.all()


def test_goodman_kruskal_gamma_ignores_ties():
    ref = {"a": 1, "b": 2, "c": 3}
    assert goodman_kruskal_gamma({"a": 1, "b": 2, "c": 3}, ref) == 1.0
    assert goodman_kruskal_gamma({"a": 3, "b": 2, "c": 1}, ref) == -1.0
    # C = 2 (ab, ac), D = 1 (bc): gamma = (2 - 1) / 3.
    assert goodman_kruskal_gamma({"a": 1, "b": 3, "c": 2}, ref) == pytest.approx(1 / 3)
    assert goodman_kruskal_gamma({"a": 1, "b": 1, "c": 1}, ref) == 1.0  # all tied: no contradiction
    # One tie (b = c) is left out: C = 2, D = 0, gamma = 1 (Kendall's tau-b would be 2 / sqrt(6)).
    assert goodman_kruskal_gamma({"a": 1, "b": 2, "c": 2}, ref) == 1.0


def test_ordering_flips_with_the_step_budget_but_not_the_target(tmp_path):
    # "early" is ahead at step 40, "late" wins at the full budget of 100 steps.
    early = [(20, 0.6), (40, 0.45), (60, 0.42), (80, 0.41), (100, 0.4)]
    late = [(20, 0.9), (40, 0.8), (60, 0.4), (80, 0.3), (100, 0.2)]
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "early"): [trial(0.4, curve=early)] * 3,
        ("w", "p", "late"): [trial(0.2, curve=late)] * 3,
    })
    loaded = load_results(str(exp))
    searches = group_searches(loaded.trials)
    (rb,) = ordering_robustness(searches, align_curves(loaded.curves, searches), 2, meta=loaded.meta,
                                targets=[0.45, 0.5], n_resamples=50)
    assert [c.setting for c in rb.by_step_budget] == [25, 50, 75, 100]
    assert [c.ordering for c in rb.by_step_budget] == [("early", "late")] * 2 + [("late", "early")] * 2
    assert [c.agreement for c in rb.by_step_budget] == [-1.0, -1.0, 1.0, 1.0]
    assert rb.by_step_budget[-1].values == pytest.approx((0.21, 0.41))
    # Target 0.45: early at 40 steps, late at 60; target 0.5 (reference, nominal): 40 vs 60.
    assert [(c.setting, c.ordering, c.values) for c in rb.by_target] == [
        (0.45, ("early", "late"), (40.0, 60.0)), (0.5, ("early", "late"), (40.0, 60.0))]
    assert not rb.robust


def test_diverged_trials_never_reach_the_target_in_the_robustness_check_either(tmp_path):
    # "a"'s only trial reached 0.45 at step 20, then diverged; "b" completed and reached it at 60.
    # Speed rankings (trials column) and the robustness check (curves) must both count only
    # completed trials, so "b" is first by both and "a" never reaches any target.
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "a"): [trial(float("nan"), status="diverged", steps_to_target=20, curve=[(20, 0.45), (40, 0.9)])],
        ("w", "p", "b"): [trial(0.3, curve=[(20, 0.8), (40, 0.6), (60, 0.45), (80, 0.35), (100, 0.3)])],
    })
    loaded = load_results(str(exp))
    searches = group_searches(loaded.trials)
    (speed,) = speed_rankings(searches, 1, meta=loaded.meta, n_resamples=20)
    assert [(o.optimizer, o.median) for o in speed.optimizers] == [("b", 60.0), ("a", math.inf)]
    (rb,) = ordering_robustness(searches, align_curves(loaded.curves, searches), 1, meta=loaded.meta,
                                targets=[0.5], n_resamples=20)
    (check,) = rb.by_target
    assert check.ordering == ("b", "a") and check.values == (60.0, math.inf)


def test_equal_median_steps_share_a_rank(tmp_path):
    # "b" and "c" both reach the target at step 40 in every resample; "x" and "y" never reach it.
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "a"): [trial(0.4, steps_to_target=20)] * 2,
        ("w", "p", "b"): [trial(0.4, steps_to_target=40)] * 2,
        ("w", "p", "c"): [trial(0.4, steps_to_target=40)] * 2,
        ("w", "p", "x"): [trial(0.7, curve=[(100, 0.7)])] * 2,
        ("w", "p", "y"): [trial(float("nan"), status="diverged")] * 2,
    })
    searches = group_searches(load_results(str(exp), curves=False).trials)
    (ranking,) = speed_rankings(searches, 2, n_resamples=20)
    # Competition ranking: ties take the lowest rank they share; the order within a tie is by name.
    assert [(o.optimizer, o.rank) for o in ranking.optimizers] == [("a", 1), ("b", 2), ("c", 2), ("x", 4), ("y", 4)]


def test_robustness_targets_follow_the_target_rule_when_a_spread_is_recorded():
    from analysis.speed import robustness_targets

    meta = {"workloads": [
        {"name": "ruled", "target_value": 0.30, "target_spread": 0.01},  # a rule's target and spread
        {"name": "tight", "target_value": 0.015, "target_spread": 0.01},  # 0.015 - 0.02 < 0 is left out
        {"name": "old", "target_value": 0.5},  # set before the rule: scaled
        {"name": "none"},
    ]}
    factors = (0.8, 1.0, 1.2)
    assert robustness_targets(meta, "ruled", factors) == pytest.approx([0.28, 0.29, 0.30, 0.31, 0.32])
    assert robustness_targets(meta, "tight", factors) == pytest.approx([0.005, 0.015, 0.025, 0.035])
    assert robustness_targets(meta, "old", factors) == pytest.approx([0.4, 0.5, 0.6])
    assert robustness_targets(meta, "none", factors) == [] == robustness_targets(meta, "absent", factors)
