"""Ask-order budget curves for adaptive searches: the definition, the rankings that use it
(rather than bootstrapping trials), and the samplers' section of the report."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import analyse, rank_experiment, write_report
from analysis.ask_order import (
    adaptive_protocols,
    best_of_first_k,
    compare_samplers,
    protocol_searches,
)
from analysis.load import load_results
from analysis.ranking import bootstrap_searches
from optcompare.schema import SearchKey
from optcompare.searches import group_searches
from tests.analysis.optuna_rows import (
    SAMPLER_STUDIES,
    SAMPLER_TRIALS,
    quasirandom_error,
    sampler_experiment,
    tpe_error,
)

TPE = SearchKey("w", "tpe", "adam")
QR = SearchKey("w", "qr", "adam")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return sampler_experiment(tmp_path_factory.mktemp("ask") / "exp")


@pytest.mark.parametrize(("select", "valid", "budgets", "expected"), [
    ([0.5, 0.4, 0.6, 0.1], [True] * 4, [1, 2, 3, 4], [5.0, 4.0, 4.0, 1.0]),
    ([0.5, 0.4, 0.6, 0.1], [True, False, True, True], [1, 2, 4], [5.0, 5.0, 1.0]),
    ([0.5, 0.5, 0.1], [True] * 3, [2], [5.0]),            # a tie keeps the earlier trial
    ([0.5, 0.4], [False, False], [1, 2], [9.0, 9.0]),     # no valid trial: worst
    ([0.5, 0.4], [True, True], [5], [4.0]),               # K beyond the study: all its trials
])
def test_best_of_first_k_in_ask_order(select, valid, budgets, expected):
    select = np.asarray(select)
    report = select * 10
    got = best_of_first_k(select, report, np.asarray(valid), budgets, worst=9.0)
    assert got.tolist() == pytest.approx(expected)


def test_adaptive_protocols_come_from_experiment_json(experiment):
    meta = load_results(str(experiment), curves=False).meta
    assert protocol_searches(meta) == {"qr": "quasirandom", "tpe": "tpe"}
    assert adaptive_protocols(meta) == {"tpe"}
    assert adaptive_protocols({"experiments": {"a": meta}}) == {"tpe"}


def test_random_and_qmc_sampler_protocols_are_exchangeable_and_learning_ones_are_not():
    meta = {"protocols": {p: {"search": p} for p in ("quasirandom", "grid", "random", "tpe", "gp", "cmaes", "qmc")}}
    assert adaptive_protocols(meta) == {"tpe", "gp", "cmaes"}  # random and qmc points ignore the results


def test_adaptive_curves_resample_studies_in_ask_order_not_trials(experiment):
    searches = group_searches(load_results(str(experiment), curves=False).trials)
    both = {k: searches[k] for k in (TPE, QR)}
    asked = bootstrap_searches(both, [1, 8], n_resamples=300, adaptive={"tpe"})
    drawn = bootstrap_searches(both, [1, 8], n_resamples=300)
    # K = 1 in ask order: each study's first trial (test error = val error + 0.01).
    firsts = [tpe_error(s, 0) + 0.01 for s in range(SAMPLER_STUDIES)]
    assert set(np.round(asked[TPE].samples[0], 6)) <= set(np.round(firsts, 6))
    assert asked[TPE].p05[0] >= min(firsts) - 1e-9 and asked[TPE].p95[0] <= max(firsts) + 1e-9
    # A bootstrap over trials would credit K = 1 with later, better trials.
    assert drawn[TPE].mean[0] < min(firsts) - 0.05
    lasts = [tpe_error(s, SAMPLER_TRIALS - 1) + 0.01 for s in range(SAMPLER_STUDIES)]
    assert asked[TPE].p05[1] >= min(lasts) - 1e-9 and asked[TPE].p95[1] <= max(lasts) + 1e-9
    np.testing.assert_array_equal(asked[QR].samples, drawn[QR].samples)  # planned: unchanged


def test_rank_uses_the_ask_order_rule_for_adaptive_protocols_and_says_so(experiment):
    result = rank_experiment(str(experiment), [1], n_resamples=200)
    (budget,) = result.by_budget
    tpe = next(r for r in budget.rankings if r.protocol == "tpe")
    firsts = [tpe_error(s, 0) + 0.01 for s in range(SAMPLER_STUDIES)]
    assert min(firsts) - 1e-9 <= tpe.optimizers[0].mean <= max(firsts) + 1e-9
    (note,) = [w for w in result.warnings if "adaptively" in w]
    assert "protocol tpe" in note and "first K trials in ask order" in note and "3 studies" in note


def test_samplers_are_compared_like_for_like_per_workload_and_optimizer(experiment):
    exp = load_results(str(experiment), curves=False)
    (comparison,) = compare_samplers(group_searches(exp.trials), exp.meta, select="val_error",
                                     report="test_error")
    assert (comparison.workload, comparison.optimizer) == ("w", "adam")
    assert comparison.budgets == (1, 2, 4, 8)
    by = {c.protocol: c for c in comparison.curves}
    assert {p: c.search for p, c in by.items()} == {"qr": "quasirandom", "tpe": "tpe"}
    for protocol, error in (("qr", quasirandom_error), ("tpe", tpe_error)):
        curve = by[protocol]
        assert curve.studies == (0, 1, 2) and curve.values.shape == (SAMPLER_TRIALS, SAMPLER_STUDIES)
        for k in comparison.budgets:
            per_study = [min(error(s, i) for i in range(k)) + 0.01 for s in range(SAMPLER_STUDIES)]
            assert curve.at(k) == pytest.approx(
                (float(np.median(per_study)), min(per_study), max(per_study)))


def test_no_comparison_when_every_protocol_searches_alike(experiment):
    exp = load_results(str(experiment), curves=False)
    meta = {**exp.meta, "protocols": {"qr": {"search": "quasirandom"}, "tpe": {"search": "quasirandom"}}}
    assert compare_samplers(group_searches(exp.trials), meta, select="val_error", report="test_error") == ()


@pytest.mark.slow
def test_report_has_the_samplers_and_importance_sections_and_figure(experiment, tmp_path):
    data = analyse(str(experiment), n_resamples=50)
    assert len(data.samplers) == 1 and len(data.importance) == 2
    assert any("protocol tpe searches adaptively" in w for w in data.warnings)
    files = write_report(data, tmp_path / "out")
    assert {f.name for f in files.figures} >= {"samplers_w_adam.png", "samplers_w_adam.pdf"}
    page = files.html.read_text()
    assert "<h2>Samplers at equal budgets</h2>" in page and '<table class="samplers">' in page
    assert "<h2>Hyperparameter importance</h2>" in page and '<table class="importance">' in page
    assert "K=8" in page and "tpe" in page
