"""Rankings from a hand-made trials table: order, default budget, retries, failed trials."""

from __future__ import annotations

import pyarrow as pa
import pytest

from analysis.ranking import rank_optimizers


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


@pytest.mark.parametrize(("kwargs", "match"), [({"select": "accuracy"}, "unknown metric"), ({"budget": 0}, "budget")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rank_optimizers(_table(_rows("a", [0.1])), **kwargs)
