"""Rankings from a hand-made trials table: order, default budget, retries, failed trials."""

from __future__ import annotations

import math
import warnings

import pyarrow as pa
import pytest

from analysis.ranking import budget_warnings, rank_optimizers, rank_optimizers_at
from optcompare.errors import InputError, ParameterError, with_flags


def _table(rows):
    columns = ["workload", "protocol", "optimizer", "trial_id", "attempt", "status",
               "final_val_error", "final_test_error", "final_train_loss"]
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})


def _rows(opt, errors, protocol="p", status="completed"):
    return [("w", protocol, opt, f"w/{protocol}/{opt}/{i:05d}", 0, status, e, e + 0.01, e)
            for i, e in enumerate(errors)]


def test_order_follows_bootstrapped_mean_and_budget_defaults_to_smallest_search():
    table = _table(_rows("good", [0.1, 0.1, 0.1]) + _rows("bad", [0.5, 0.6]) + _rows("mid", [0.3, 0.3, 0.3]))
    budget, rankings = rank_optimizers(table, n_resamples=200)
    assert budget == 2
    (ranking,) = rankings
    assert [o.optimizer for o in ranking.optimizers] == ["good", "mid", "bad"]
    assert [o.rank for o in ranking.optimizers] == [1, 2, 3]
    good = ranking.optimizers[0]
    # Every trial of "good" reports test error 0.11, so the bootstrap has no spread.
    assert (good.mean, good.p05, good.p95) == pytest.approx((0.11, 0.11, 0.11))
    assert good.n_trials == 3


def test_only_the_latest_attempt_of_a_trial_counts():
    rows = _rows("a", [0.2])
    retried = [("w", "p", "a", "w/p/a/00000", 1, "completed", 0.9, 0.9, 0.9)]
    _, (ranking,) = rank_optimizers(_table(rows + retried), n_resamples=50)
    assert ranking.optimizers[0].n_trials == 1
    assert ranking.optimizers[0].mean == pytest.approx(0.9)


def test_diverged_and_failed_trials_score_worst_when_alone():
    table = _table(_rows("x", [float("nan")], status="diverged") + _rows("y", [0.4]))
    _, (ranking,) = rank_optimizers(table, n_resamples=50)
    assert [o.optimizer for o in ranking.optimizers] == ["y", "x"]
    assert ranking.optimizers[1].mean == 1.0


def test_rankings_are_separate_per_protocol():
    table = _table(_rows("a", [0.1], "p1") + _rows("b", [0.2], "p1") + _rows("a", [0.3], "p2") + _rows("b", [0.2], "p2"))
    _, rankings = rank_optimizers(table, n_resamples=20)
    assert {r.protocol: [o.optimizer for o in r.optimizers] for r in rankings} == {
        "p1": ["a", "b"], "p2": ["b", "a"]
    }


def test_select_by_train_loss():
    # Trial 0: low val error but high train loss; trial 1 the reverse. K=1000 always finds both.
    rows = [("w", "p", "a", "t0", 0, "completed", 0.1, 0.15, 0.9),
            ("w", "p", "a", "t1", 0, "completed", 0.4, 0.45, 0.1)]
    _, (by_val,) = rank_optimizers(_table(rows), budget=1000, n_resamples=20)
    _, (by_loss,) = rank_optimizers(_table(rows), budget=1000, select="train_loss", n_resamples=20)
    assert by_val.optimizers[0].mean == pytest.approx(0.15)
    assert by_loss.optimizers[0].mean == pytest.approx(0.45)


@pytest.mark.parametrize(
    ("kwargs", "parameter", "match"),
    [
        ({"select": "accuracy"}, "select", "unknown metric 'accuracy' for select; valid choices: val_error,"),
        ({"report": "accuracy"}, "report", "unknown metric 'accuracy' for report"),
        ({"budget": 0}, "budget", "budget must be >= 1, got 0"),
        ({"n_resamples": 0}, "n_resamples", "n_resamples must be >= 1, got 0"),
    ],
)
def test_bad_arguments_are_parameter_errors_without_flags(kwargs, parameter, match):
    with pytest.raises(ParameterError, match=match) as caught:
        rank_optimizers(_table(_rows("a", [0.1])), **kwargs)
    assert caught.value.parameter == parameter and "--" not in str(caught.value)


def test_no_trials_is_bad_input():
    with pytest.raises(InputError, match="has no finished trials yet"):
        rank_optimizers(_table([]))
    reruns = _table(_rows("a", [0.1])).append_column("phase", pa.array(["rerun"]))
    with pytest.raises(InputError, match="no search trials"):
        rank_optimizers(reruns)


def test_a_failed_trial_alone_scores_worst():
    # A failed trial has no metrics at all (null); alone in its search, every draw scores worst.
    failed = [("w", "p", "x", "w/p/x/00000", 0, "failed", None, None, None)]
    table = _table(failed + _rows("y", [0.4]))
    table = table.append_column("final_test_loss", pa.array([None, 0.45], pa.float64()))
    _, (ranking,) = rank_optimizers(table, n_resamples=50)
    assert [o.optimizer for o in ranking.optimizers] == ["y", "x"]
    x = ranking.optimizers[1]
    assert (x.mean, x.p05, x.p95) == (1.0, 1.0, 1.0)
    _, (by_loss,) = rank_optimizers(table, n_resamples=50, report="test_loss")
    assert by_loss.optimizers[1].optimizer == "x" and by_loss.optimizers[1].mean == math.inf


def test_loss_percentiles_are_order_statistics_without_warnings():
    # One completed trial and one diverged: K=1 scores +inf in about half the resamples. Linear
    # interpolation would give inf - inf = NaN (and a RuntimeWarning); order statistics do not.
    rows = _rows("a", [0.3]) + [("w", "p", "a", "w/p/a/00001", 0, "diverged", math.nan, math.nan, math.nan)]
    table = _table(rows).append_column("final_test_loss", pa.array([0.35, math.nan]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, (ranking,) = rank_optimizers(table, budget=1, report="test_loss", n_resamples=400)
    (a,) = ranking.optimizers
    assert a.p05 == pytest.approx(0.35) and a.p95 == math.inf and a.mean == math.inf


def test_several_budgets_share_one_draw():
    table = _table(_rows("a", [0.1, 0.5, 0.3, 0.2]) + _rows("b", [0.2, 0.25, 0.4]))
    many = rank_optimizers_at(table, [4, 1, 2], n_resamples=300, seed=3)
    assert list(many) == [1, 2, 4]
    for k in (1, 2, 4):
        used, alone = rank_optimizers(table, budget=k, n_resamples=300, seed=3)
        assert used == k and alone == many[k]
    assert list(rank_optimizers_at(table, n_resamples=10)) == [3]  # default: the smallest search


def test_budget_above_the_largest_search_warns_and_far_above_it_is_refused():
    from optcompare.searches import group_searches

    searches = group_searches(_table(_rows("a", [0.1] * 4) + _rows("b", [0.2] * 8)))
    assert budget_warnings(searches, [1, 8]) == []
    (warning,) = budget_warnings(searches, [4, 16, 32])
    assert warning.startswith("budget 16, 32 exceeds the largest search (8 trials")
    assert "w/p/a: 4, w/p/b: 8" in warning
    assert with_flags(warning, {"budget": "--budget"}).startswith("--budget 16, 32 exceeds")
    assert budget_warnings(searches, [800])  # 100x: still allowed
    with pytest.raises(ParameterError, match=r"^budget 801 is more than 100x the largest search \(8 trials\)"):
        budget_warnings(searches, [801])
