"""Hyperparameter importance: Optuna's evaluators on a study rebuilt from the trials rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.diagnostics import space_ranges
from analysis.importance import EVALUATORS, check_evaluator, experiment_importance
from analysis.load import load_results
from analysis.optuna_study import rebuilt_trials
from optcompare.errors import ParameterError
from optcompare.searches import group_searches
from tests.analysis.optuna_rows import KEY, SPACE, one_coordinate_experiment
from tests.analysis.synthetic import trial, write_experiment


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return one_coordinate_experiment(tmp_path_factory.mktemp("importance") / "exp")


@pytest.mark.parametrize("evaluator", sorted(EVALUATORS))
def test_the_one_coordinate_the_error_depends_on_gets_at_least_0_9(experiment, evaluator):
    (search,) = experiment_importance(str(experiment), evaluator=evaluator).searches
    shares = {c.name: c.importance for c in search.coordinates}
    assert set(shares) == set(SPACE)
    assert shares["learning_rate"] >= 0.9
    assert math.isclose(sum(shares.values()), 1.0)
    assert search.coordinates[0].name == "learning_rate"
    assert {c.name: c.scaling for c in search.coordinates} == {
        "learning_rate": "log", "one_minus_beta1": "linear", "decay": "points"}


def test_diverged_trials_count_at_the_worst_finite_value_and_failed_ones_are_left_out(experiment):
    (search,) = experiment_importance(str(experiment)).searches
    assert (search.n_trials, search.n_completed, search.n_diverged, search.n_failed) == (200, 198, 1, 1)
    assert any("1 diverged trial(s) counted at the worst finite val_error" in n for n in search.notes)
    exp = load_results(str(experiment), curves=False)
    (s,) = group_searches(exp.trials).values()
    rebuilt = rebuilt_trials(s, space_ranges(exp.meta)[KEY[1:]], "val_error")
    finite = s.column("final_val_error")[s.completed]
    assert rebuilt.worst == pytest.approx(float(np.nanmax(finite)))
    assert rebuilt.trials[3].state.name == "COMPLETE" and rebuilt.trials[3].value == rebuilt.worst
    assert rebuilt.trials[4].state.name == "FAIL" and rebuilt.trials[4].value is None


def test_one_distribution_per_coordinate_from_the_recorded_space(experiment):
    exp = load_results(str(experiment), curves=False)
    (s,) = group_searches(exp.trials).values()
    rebuilt = rebuilt_trials(s, space_ranges(exp.meta)[KEY[1:]], "val_error")
    d = rebuilt.distributions
    assert d["learning_rate"].log and d["learning_rate"].low <= 1e-4 and d["learning_rate"].high >= 1.0
    assert not d["one_minus_beta1"].log
    assert tuple(d["decay"].choices) == (0.1, 0.5, 0.9)
    assert all(t.params["decay"] in (0.1, 0.5, 0.9) for t in rebuilt.trials)
    logged = rebuilt_trials(s, space_ranges(exp.meta)[KEY[1:]], "val_error", log_as_linear=True)
    assert not logged.distributions["learning_rate"].log
    assert logged.distributions["learning_rate"].low == pytest.approx(math.log(1e-4), abs=1e-6)
    assert logged.trials[0].params["learning_rate"] == pytest.approx(
        math.log(rebuilt.trials[0].params["learning_rate"]))


def test_a_search_with_fewer_than_two_completed_trials_is_skipped_with_a_note(tmp_path):
    tuned = {"learning_rate": 0.1}
    path = write_experiment(tmp_path / "exp", {
        ("w", "p", "sgd"): [trial(0.3, tuned=tuned), trial(math.nan, status="failed", tuned=tuned)],
        ("w", "p", "adam"): [trial(0.3, tuned={"learning_rate": 0.1}), trial(0.2, tuned={"learning_rate": 0.01})],
    })
    by = {s.optimizer: s for s in experiment_importance(str(path)).searches}
    assert by["sgd"].skipped and by["sgd"].coordinates == ()
    assert any("skipped: 1 completed trial(s)" in n for n in by["sgd"].notes)
    assert not by["adam"].skipped


def test_unknown_evaluator_is_a_parameter_error_listing_the_allowed():
    with pytest.raises(ParameterError, match="'shap' is unknown; choose one of ped-anova, fanova") as err:
        check_evaluator("shap")
    assert err.value.parameter == "evaluator"
