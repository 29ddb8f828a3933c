"""One selection default (issue: rank and report disagreed): every command selects a protocol's
best trials by the ``select`` experiment.json records for it, and ``--select`` overrides that
everywhere alike.

The experiment: protocol ``byloss`` records ``select: train_loss``, protocol ``byval``
``val_error``. In each, sgd's trial 0 has the lower val_error (0.1, test error 0.5) and trial 1
the lower train loss (0.1, test error 0.2). At K = 100 (two trials, each missed by a resample
with probability 2^-99) the best-of-K is that trial in every resample, so the mean test error is
exactly 0.2 when train_loss selects and 0.5 when val_error does.
"""

from __future__ import annotations

import json

import pytest

from analysis.experiment_rankings import rank_experiment
from analysis.importance import experiment_importance
from analysis.report_data import analyse
from optcompare.cli import main
from tests.analysis.synthetic import trial, write_experiment

BY_VAL, BY_LOSS = 0.5, 0.2


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    both = [
        trial(0.1, test_error=0.5, train_loss=0.9, tuned={"learning_rate": 0.1}),
        trial(0.5, test_error=0.2, train_loss=0.1, tuned={"learning_rate": 1.0}),
        trial(0.3, test_error=0.3, train_loss=0.5, tuned={"learning_rate": 0.3}),
    ]
    return str(write_experiment(
        tmp_path_factory.mktemp("select") / "exp",
        {("w", "byloss", "sgd"): both, ("w", "byval", "sgd"): both},
        select={"byloss": "train_loss", "byval": "val_error"},
    ))


def _means(documents) -> dict[str, float]:
    return {r["protocol"]: r["optimizers"][0]["mean"] for r in documents}


@pytest.mark.parametrize("flag, expected", [
    ([], {"byloss": BY_LOSS, "byval": BY_VAL}),
    (["--select", "val_error"], {"byloss": BY_VAL, "byval": BY_VAL}),
    (["--select", "train_loss"], {"byloss": BY_LOSS, "byval": BY_LOSS}),
])
def test_rank_selects_by_the_recorded_select_unless_told(experiment, capsys, flag, expected):
    assert main(["rank", experiment, "--budget", "100", "--resamples", "50", "--format", "json", *flag]) == 0
    document = json.loads(capsys.readouterr().out)
    assert _means(document["rankings"]) == pytest.approx(expected)
    assert {r["protocol"]: r["select"] for r in document["rankings"]} == {
        p: ("train_loss" if v == BY_LOSS else "val_error") for p, v in expected.items()
    }


@pytest.mark.parametrize("flag, expected", [
    ([], {"byloss": BY_LOSS, "byval": BY_VAL}),
    (["--select", "val_error"], {"byloss": BY_VAL, "byval": BY_VAL}),
])
def test_summary_selects_alike(experiment, capsys, flag, expected):
    assert main(["summary", experiment, "--budget", "100", "--resamples", "50", "--format", "json", *flag]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {p["protocol"] for p in document["protocols"]} == set(expected)
    assert document["select"] == ({"byloss": "train_loss", "byval": "val_error"} if not flag else flag[1])
    table = main(["rank", experiment, "--budget", "100", "--resamples", "50", "--format", "csv", *flag])
    assert table == 0
    rows = [line.split(",") for line in capsys.readouterr().out.splitlines()[1:]]
    assert {r[1]: float(r[5]) for r in rows} == pytest.approx(expected)  # protocol -> mean


def test_report_importance_and_the_library_agree_with_rank(experiment):
    recorded = rank_experiment(experiment, [100], n_resamples=50)
    (budget,) = recorded.by_budget
    assert _means([r.as_dict() for r in budget.rankings]) == pytest.approx({"byloss": BY_LOSS, "byval": BY_VAL})
    data = analyse(experiment, budget=100, n_resamples=50)
    assert {r.protocol: r.optimizers[0].mean for r in data.rankings} == pytest.approx({"byloss": BY_LOSS, "byval": BY_VAL})
    overridden = analyse(experiment, budget=100, n_resamples=50, select="val_error")
    assert {r.protocol: r.optimizers[0].mean for r in overridden.rankings} == pytest.approx({"byloss": BY_VAL, "byval": BY_VAL})
    importance = experiment_importance(experiment)
    assert {s.protocol: s.select for s in importance.searches} == {"byloss": "train_loss", "byval": "val_error"}
    assert {s.protocol: s.select for s in experiment_importance(experiment, select="val_error").searches} == {
        "byloss": "val_error", "byval": "val_error"
    }
