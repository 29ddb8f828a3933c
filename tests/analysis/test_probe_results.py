"""Inclusion probes in the analysis: matching, seed noise, verdicts, the report section."""

from __future__ import annotations

import math

import pytest

from analysis import analyse
from analysis.load import load_results
from analysis.probes import DEFAULT_TOLERANCE, probe_results
from analysis.report import render_page
from optcompare.searches import group_searches
from tests.analysis.synthetic import trial, write_experiment


def _searches(probe_test_error, *, reruns=(), probe_status="completed"):
    sgd = [trial(0.30, seed=101), trial(0.20, test_error=0.25, seed=102), trial(0.20, seed=103)]
    sgd += [trial(0.2, test_error=e, index=3 + i, phase="rerun", seed=900 + i) for i, e in enumerate(reruns)]
    momentum = [trial(0.22, test_error=0.23, seed=201), trial(0.4, seed=202), trial(0.5, seed=203)]
    momentum.append(
        trial(0.2, test_error=probe_test_error, index=3, phase="probe", seed=102, status=probe_status)
    )
    return {("w", "p", "sgd"): sgd, ("w", "p", "momentum"): momentum}


@pytest.mark.parametrize(
    ("probe", "reruns", "verdict", "tolerance", "from_reruns"),
    [
        (0.255, (), "realised", DEFAULT_TOLERANCE, False),  # |0.255 - 0.25| <= 0.01
        (0.30, (), "not realised", DEFAULT_TOLERANCE, False),
        (0.27, (0.24, 0.28, 0.26), "realised", 0.04, True),  # reruns spread 0.04 >= 0.02
        (0.255, (0.250, 0.252), "not realised", 0.002, True),
    ],
)
def test_the_verdict_compares_the_probe_with_the_narrow_best_within_seed_noise(
    tmp_path, probe, reruns, verdict, tolerance, from_reruns
):
    exp = load_results(str(write_experiment(tmp_path / "e", _searches(probe, reruns=reruns))))
    (result,) = probe_results(exp.trials)
    assert (result.workload, result.protocol, result.narrow, result.wide) == ("w", "p", "sgd", "momentum")
    # The narrow best is index 1 (ties on val_error 0.20 with index 2: the lower index), test 0.25.
    assert result.narrow_best == 0.25 and result.probe == probe and result.wide_best == 0.23
    assert result.verdict == verdict and result.noise_from_reruns is from_reruns
    assert result.tolerance == pytest.approx(tolerance)
    assert result.sentence.startswith(f"sgd <= momentum: {verdict};")
    assert ("indicative" in result.sentence) is not from_reruns


def test_a_probe_that_did_not_complete_is_not_realised(tmp_path):
    exp = load_results(str(write_experiment(tmp_path / "e", _searches(0.25, probe_status="diverged"))))
    (result,) = probe_results(exp.trials)
    assert math.isnan(result.probe) and result.verdict == "not realised"
    assert "did not complete" in result.sentence


def test_probes_stay_outside_the_searches_and_the_report_shows_them(tmp_path):
    path = write_experiment(tmp_path / "e", _searches(0.25))
    exp = load_results(str(path))
    assert {k.optimizer: s.n_trials for k, s in group_searches(exp.trials).items()} == {
        "momentum": 3, "sgd": 3
    }
    data = analyse(str(path), n_resamples=20)
    assert [r.verdict for r in data.probes] == ["realised"]
    page = render_page(data)
    assert "<h3>Inclusion probes</h3>" in page and '<table class="probes">' in page


def test_no_probe_rows_no_section(tmp_path):
    searches = _searches(0.25)
    searches[("w", "p", "momentum")].pop()
    path = write_experiment(tmp_path / "e", searches)
    assert probe_results(load_results(str(path)).trials) == []
    data = analyse(str(path), n_resamples=20)
    assert data.probes == () and "Inclusion probes" not in render_page(data)


def test_each_study_s_probe_is_judged_against_that_study_s_narrow_best(tmp_path):
    # Study 0's narrow best (seed 102, test 0.25) is also the pooled best; study 1's (seed 112,
    # test 0.35) is not, so pooling the studies would drop study 1's probe.
    sgd = [trial(0.30, seed=101, study=0), trial(0.20, test_error=0.25, seed=102, study=0)]
    sgd += [trial(0.31, seed=111, study=1, index=0), trial(0.25, test_error=0.35, seed=112, study=1, index=1)]
    momentum = [trial(0.22, test_error=0.23, seed=201, study=0), trial(0.24, test_error=0.26, seed=211, study=1, index=0)]
    momentum += [
        trial(0.2, test_error=0.255, index=2, phase="probe", seed=102, study=0),
        trial(0.3, test_error=0.50, index=2, phase="probe", seed=112, study=1),
    ]
    exp = load_results(str(write_experiment(tmp_path / "e", {("w", "p", "sgd"): sgd, ("w", "p", "momentum"): momentum})))
    first, second = probe_results(exp.trials)
    assert (first.study, first.narrow_best, first.probe, first.wide_best, first.verdict) == (0, 0.25, 0.255, 0.23, "realised")
    assert (second.study, second.narrow_best, second.probe, second.wide_best, second.verdict) == (1, 0.35, 0.50, 0.26, "not realised")
