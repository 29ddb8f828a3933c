"""Rank probabilities: hand cases, ties, their sums, and the rank CLI's JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow as pa
import pytest

from analysis.ranking import rank_optimizers, rank_probabilities
from optcompare.cli import main
from tests.analysis.synthetic import trial, write_experiment


def test_hand_case_with_a_tie():
    # Resample 0: A = B = 1 < C = 3, so A and B split ranks 1 and 2, C is 3rd.
    # Resample 1: C = 0 < B = 1 < A = 2.
    samples = np.array([[1.0, 2.0], [1.0, 1.0], [3.0, 0.0]])
    probs = rank_probabilities(samples)
    expected = np.array([[0.25, 0.25, 0.5], [0.25, 0.75, 0.0], [0.5, 0.0, 0.5]])
    np.testing.assert_allclose(probs, expected)


def test_nan_counts_as_worst():
    np.testing.assert_allclose(rank_probabilities(np.array([[np.nan, 0.5], [1.0, 1.0]])), [[0.5, 0.5], [0.5, 0.5]])


def test_rows_and_columns_sum_to_one():
    rng = np.random.default_rng(0)
    samples = rng.integers(0, 4, size=(6, 500)).astype(float)  # many ties
    probs = rank_probabilities(samples)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0)


def _table(rows):
    cols = ["workload", "protocol", "optimizer", "trial_id", "attempt", "status",
            "final_val_error", "final_test_error", "final_train_loss"]
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})


def test_rank_probabilities_from_a_ranking_match_the_closed_form():
    # x has trials 0.1 and 0.3, y one trial 0.2. At K = 1, x ranks first exactly when its draw
    # is the 0.1 trial: P = 1/2. At K = 2, unless both draws are 0.3: P = 3/4.
    rows = [("w", "p", "x", "x0", 0, "completed", 0.1, 0.1, 0.1),
            ("w", "p", "x", "x1", 0, "completed", 0.3, 0.3, 0.3),
            ("w", "p", "y", "y0", 0, "completed", 0.2, 0.2, 0.2)]
    for budget, p_first in ((1, 0.5), (2, 0.75)):
        _, (ranking,) = rank_optimizers(_table(rows), budget=budget, n_resamples=20_000, seed=1)
        x = next(o for o in ranking.optimizers if o.optimizer == "x")
        y = next(o for o in ranking.optimizers if o.optimizer == "y")
        assert x.rank_probabilities[0] == pytest.approx(p_first, abs=0.02)
        assert y.rank_probabilities[0] == pytest.approx(1 - p_first, abs=0.02)
        assert sum(x.rank_probabilities) == pytest.approx(1.0)


def test_rank_json_keeps_the_contract_and_adds_rank_probabilities(tmp_path, capsys):
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "good"): [trial(0.1), trial(0.12)],
        ("w", "p", "bad"): [trial(0.5), trial(0.6)],
        ("w", "p", "mid"): [trial(0.3), trial(0.3)],
    })
    assert main(["rank", str(exp), "--format", "json", "--resamples", "200"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"budget", "select", "report", "n_resamples", "rankings"}
    (ranking,) = payload["rankings"]
    assert [o["optimizer"] for o in ranking["optimizers"]] == ["good", "mid", "bad"]
    for o in ranking["optimizers"]:
        assert {"optimizer", "rank", "n_trials", "mean", "p05", "p95"} <= set(o)
        probs = o["rank_probabilities"]
        assert len(probs) == 3 and sum(probs) == pytest.approx(1.0)
        assert probs[o["rank"] - 1] == 1.0  # the three never overlap
    assert main(["rank", str(exp), "--format", "csv", "--resamples", "50"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["optimizer"] for r in rows] == ["good", "mid", "bad"]
    assert [r["p_rank_1"] for r in rows] == ["1.0", "0.0", "0.0"]
