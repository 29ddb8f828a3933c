"""Faults through a real Ray: retries, failures, divergence, a killed worker, a killed driver."""

from __future__ import annotations

import pytest

from analysis.load import load_table, open_experiment
from optcompare.cli import main

WORKLOAD = {"name": "mnist1d-mlp", "steps": 40, "eval_every": 20}


@pytest.mark.slow
def test_retries_failures_and_divergence(study, use_plugin, fault_dir):
    ran = study.run(study.config(
        "faults", plugins=[use_plugin("failing_sgd")], workload=WORKLOAD,
        optimizers=["flaky-sgd", "crashing-sgd", "broken-sgd"], trials=2, max_failures=2, report_every_s=0,
    ))
    assert "trials: 6/6 finished (4 completed, 0 diverged, 2 failed)" in ran.out
    trials = ran.trials.set_index("trial_id")
    assert trials.index.is_unique and len(trials) == 6
    for name in ("flaky-sgd", "crashing-sgd"):
        rows = trials[trials["optimizer"] == name]
        assert (rows["status"] == "completed").all() and (rows["attempt"] == 1).all()
    broken = trials[trials["optimizer"] == "broken-sgd"]
    assert (broken["status"] == "failed").all() and (broken["attempt"] == 2).all()
    assert broken["error"].str.contains("broken on purpose").all()
    assert set(ran.curves["attempt"]) == {1}  # first attempts failed before their first evaluation

    # A diverged trial is recorded as such and not retried.
    study.write("explode.yaml", "name: explode\nschedule: constant\noptimizers:\n  sgd:\n    learning_rate: 1.0e+4\n")
    diverged = study.run(study.config(
        "diverge", workload=WORKLOAD, protocols=["explode.yaml"], trials=2, max_failures=2, report_every_s=0,
    )).trials
    assert (diverged["status"] == "diverged").all() and (diverged["attempt"] == 0).all()
    assert (diverged["total_steps"] < 40).all()


@pytest.mark.slow
def test_a_bundle_whose_worker_dies_is_retried_per_planned_trial(study, use_plugin, fault_dir):
    ran = study.run(study.config(
        "bundled", plugins=[use_plugin("crash_once_workload")], workload={**WORKLOAD, "name": "crash-once-mlp"},
        optimizers=["adam"], trials=8, bundle_size=4, max_failures=1, report_every_s=0,
    ))
    assert "trials: 8/8 finished (8 completed, 0 diverged, 0 failed)" in ran.out
    trials = ran.trials
    assert len(trials) == 8 and trials["trial_id"].is_unique
    retried = sorted(trials.loc[trials["attempt"] == 1, "trial_index"])
    assert retried in ([0, 1, 2, 3], [4, 5, 6, 7])  # the whole crashed bundle, each trial once more
    assert (trials.loc[trials["attempt"] == 0, "trial_index"].isin(retried)).sum() == 0
    curves = load_table(*open_experiment(str(ran.experiment)), "curves").table.to_pandas()
    merged = curves.merge(trials[["trial_id", "attempt"]], on="trial_id", suffixes=("", "_final"))
    assert (merged["attempt"] == merged["attempt_final"]).all()  # it died before any evaluation
    assert sorted(curves.groupby("trial_id")["step"].apply(sorted).map(tuple).unique()) == [(20, 40)]  # rows come in no set order


def test_resume_of_a_finished_or_foreign_directory(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "is not an optcompare experiment" in capsys.readouterr().err
