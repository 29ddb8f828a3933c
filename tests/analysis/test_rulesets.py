"""A ruleset protocol's score (AlgoPerf's external tuning: the median over studies of each
study's fewest steps to the target), on a hand-computed experiment, through the summary and
the report."""

from __future__ import annotations

import json
import math

import pytest

from analysis import analyse
from analysis.across_workloads import summarize_experiments
from analysis.report_page import render_page
from analysis.rulesets import protocol_rulesets
from optcompare.cli import main
from tests.analysis.synthetic import trial, write_experiment

INF = math.inf
MISS = None
DIVERGED_AT_40 = "diverged at 40"
RULESET = {"score": "median_study_best_steps", "trials_per_study": 5, "studies": 3}

# Steps to the target of each trial (MISS: never reached), 3 studies x 5 trials per search.
#
#   search  study 0                 study 1              study 2               b per study   v = median
#   w1/A    -, 80, 60, -, 100       all missed           40, -, -, -, -        60, inf, 40   60
#   w1/B    20, -, -, -, -          100, -, -, -, -      80, d40, -, -, -      20, 100, 40   40
#   w2/A    100, -, -, -, -         all missed           all missed            100, inf, inf inf (2 of 3 missed)
#   w2/B    60, -, -, -, -          60, -, -, -, -       80, -, -, -, -        60, 60, 80    60
#
# d40: a trial that reached the target at step 40 and diverged afterwards; it counts, as AlgoPerf
# reads every trial's evaluations.
# Profile (tau_max 4, exact): w1: r_A = 60/40 = 1.5, r_B = 1; w2: r_A = inf, r_B = 1.
#   A: (4 - 1.5 + 0) / (2 * 3) = 5/12;  B: (3 + 3) / 6 = 1.
STEPS = {
    ("w1", "A"): [[MISS, 80, 60, MISS, 100], [MISS] * 5, [40, MISS, MISS, MISS, MISS]],
    ("w1", "B"): [[20, MISS, MISS, MISS, MISS], [100, MISS, MISS, MISS, MISS], [80, DIVERGED_AT_40, MISS, MISS, MISS]],
    ("w2", "A"): [[100, MISS, MISS, MISS, MISS], [MISS] * 5, [MISS] * 5],
    ("w2", "B"): [[60, MISS, MISS, MISS, MISS], [60, MISS, MISS, MISS, MISS], [80, MISS, MISS, MISS, MISS]],
}
EXPECTED = {
    ("w1", "A"): ((60, INF, 40), 60), ("w1", "B"): ((20, 100, 40), 40),
    ("w2", "A"): ((100, INF, INF), INF), ("w2", "B"): ((60, 60, 80), 60),
}
PROFILE_SCORES = {"A": 5 / 12, "B": 1.0}


def _trial(steps, study: int, index: int):
    if steps is MISS:
        return trial(0.6, study=study, index=index)  # its curve never reaches the 0.5 target
    if steps == DIVERGED_AT_40:
        return trial(math.nan, status="diverged", steps_to_target=40, study=study, index=index)
    return trial(0.3, steps_to_target=steps, study=study, index=index)


def _write(path, studies=3, ruleset=RULESET):
    searches = {
        (w, "ap", o): [_trial(s, study, 5 * study + i) for study, row in enumerate(rows[:studies]) for i, s in enumerate(row)]
        for (w, o), rows in STEPS.items()
    }
    return write_experiment(path, searches, meta={
        "studies": studies,
        "protocols": {"ap": {"name": "ap", "schedule": "constant", "ruleset": ruleset, "optimizers": {}}},
    })


@pytest.fixture
def experiment(tmp_path):
    return _write(tmp_path / "exp")


def test_each_study_s_best_then_the_median_over_studies_and_their_profile(experiment):
    summary = summarize_experiments(str(experiment), n_resamples=20)
    assert summary.budget == analyse(str(experiment), n_resamples=20).budget == 5  # one study's trials, as the report's
    (result,) = summary.protocols
    ruleset = result.ruleset
    assert ruleset is not None and ruleset.warnings == ()
    found = {(s.workload, s.optimizer): (s.per_study, s.score) for s in ruleset.scores}
    assert found == EXPECTED
    assert all(s.studies == (0, 1, 2) and s.trials == (5, 5, 5) for s in ruleset.scores)
    assert {o.optimizer: o.score for o in ruleset.profile.optimizers} == pytest.approx(PROFILE_SCORES, abs=1e-15)
    assert ruleset.profile.quantity == "median_study_best_steps"


def test_a_budget_other_than_the_ruleset_s_is_warned(tmp_path):
    summary = summarize_experiments(str(_write(tmp_path / "two", studies=2)), n_resamples=20)
    warnings = [w for w in summary.warnings if "where the ruleset has 3 studies of 5 trials" in w]
    assert len(warnings) == 4 and "ap: w1/A has 2 studies where the ruleset" in warnings[0]
    (result,) = summary.protocols
    assert {(s.workload, s.optimizer): s.score for s in result.ruleset.scores}[("w1", "A")] == INF  # median(60, inf)


def test_only_protocols_with_a_known_ruleset_score_are_scored(tmp_path):
    assert protocol_rulesets({"protocols": {"ap": {"ruleset": RULESET}, "plain": {"schedule": "constant"}}}) == {"ap": RULESET}
    assert protocol_rulesets({"protocols": {"ap": {"ruleset": {**RULESET, "score": "newer_score"}}}}) == {}
    plain = _write(tmp_path / "plain", ruleset=None)
    (result,) = summarize_experiments(str(plain), n_resamples=20).protocols
    assert result.ruleset is None and result.as_dict()["ruleset"] is None


def test_the_summary_shows_it_as_a_table_a_csv_column_and_json(experiment, capsys):
    assert main(["summary", str(experiment), "--resamples", "20"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "median over studies of each study's fewest steps to the target" in out
    assert "40 [20, 100, 40]" in out and "miss [100, miss, miss]" in out
    assert main(["summary", str(experiment), "--format", "csv", "--resamples", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    column = header.index("score_ruleset")
    assert {line.split(",")[1]: float(line.split(",")[column]) for line in lines[1:]} == pytest.approx(PROFILE_SCORES)
    assert main(["summary", str(experiment), "--format", "json", "--resamples", "20"]) == 0
    ruleset = json.loads(capsys.readouterr().out)["protocols"][0]["ruleset"]
    assert ruleset["studies"] == 3 and ruleset["trials_per_study"] == 5
    scores = {(s["workload"], s["optimizer"]): (s["score"], s["per_study"]) for s in ruleset["scores"]}
    assert scores[("w1", "B")] == (40, {"0": 20, "1": 100, "2": 40})
    assert scores[("w2", "A")] == (None, {"0": 100, "1": None, "2": None})  # a miss is null


def test_the_report_has_a_ruleset_section_and_its_profile_panel(experiment):
    data = analyse(str(experiment), n_resamples=20)
    (result,) = data.rulesets
    assert data.across_workloads is not None and data.across_workloads.protocols[0].ruleset == result
    (figure,) = [f for f in data.figures if f.plot == "performance_profiles"]
    assert figure.statistics[-1] == result.profile and "the ruleset's score" in figure.caption
    page = " ".join(render_page(data).split())
    assert "<h2>Ruleset scores</h2>" in page and "in steps where AlgoPerf measures wall-clock time" in page
    assert "60 [60, miss, 40]" in page
