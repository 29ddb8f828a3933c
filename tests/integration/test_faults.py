"""Faults through a real Ray: retries, failures, divergence, a killed worker, a killed driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from plugin_fixtures import SLOW_PLUGIN

from analysis.load import load_experiment, load_table, open_experiment
from optcompare.cli import main

FAULT_PLUGIN = '''
"""Optimizers that fail on purpose. Each trial is told apart by its initial weights (seeded),
and a marker file in $OPTCOMPARE_FAULT_DIR remembers that its first attempt already failed."""
import hashlib
import os
from pathlib import Path

import optimizers
from optimizers.presets import DEFAULTS


def _first_attempt(kind, params):
    params = list(params)
    first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
    key = hashlib.sha256(first.detach().numpy().tobytes()).hexdigest()[:16]
    marker = Path(os.environ["OPTCOMPARE_FAULT_DIR"]) / f"{kind}-{key}"
    if marker.exists():
        return params, False
    marker.touch()
    return params, True


def _flaky(params, **kw):
    params, first = _first_attempt("flaky", params)
    if first:
        raise RuntimeError("flaky on purpose")
    return optimizers.get_spec("sgd").factory(params, **kw)


def _crashing(params, **kw):
    params, first = _first_attempt("crash", params)
    if first:
        os._exit(1)  # the worker process dies
    return optimizers.get_spec("sgd").factory(params, **kw)


def _broken(params, **kw):
    raise RuntimeError("broken on purpose")


SPACE = {"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0, "decay_factor": 0.1}
for name, factory in (("flaky-sgd", _flaky), ("crashing-sgd", _crashing), ("broken-sgd", _broken)):
    optimizers.register(optimizers.OptimizerSpec(name, factory, dict(DEFAULTS["sgd"]), search_space=SPACE))
'''


@pytest.mark.slow
def test_retries_failures_and_divergence(tmp_path, install_plugin, monkeypatch, run_config_file):
    module = install_plugin("optcompare_fault_plugin", FAULT_PLUGIN)
    (tmp_path / "faults").mkdir()
    monkeypatch.setenv("OPTCOMPARE_FAULT_DIR", str(tmp_path / "faults"))
    (tmp_path / "explode.yaml").write_text(
        "name: explode\nschedule: constant\noptimizers:\n  sgd:\n    learning_rate: 1.0e+4\n"
    )
    config = tmp_path / "faults.yaml"
    config.write_text(
        f"name: faults\nplugins: [{module}]\n"
        "workloads: [{name: mnist1d-mlp, steps: 40, eval_every: 20}]\n"
        "optimizers: [flaky-sgd, crashing-sgd, broken-sgd]\nprotocols: [lr-only]\n"
        "trials_per_search: 2\nmax_failures: 2\nreport_every_s: 0\n"
    )
    out, trials = run_config_file(config, "faults")
    assert "trials: 6/6 finished (4 completed, 0 diverged, 2 failed)" in out
    experiment = str(tmp_path / "r" / "faults")
    trials = trials.set_index("trial_id")
    assert trials.index.is_unique and len(trials) == 6
    for name in ("flaky-sgd", "crashing-sgd"):
        rows = trials[trials["optimizer"] == name]
        assert (rows["status"] == "completed").all() and (rows["attempt"] == 1).all()
    broken = trials[trials["optimizer"] == "broken-sgd"]
    assert (broken["status"] == "failed").all() and (broken["attempt"] == 2).all()
    assert broken["error"].str.contains("broken on purpose").all()
    curves = load_table(*open_experiment(experiment), "curves").table.to_pandas()
    assert set(curves["attempt"]) == {1}  # first attempts failed before their first evaluation

    # A diverged trial is recorded as such and not retried.
    config.write_text(config.read_text().replace("[flaky-sgd, crashing-sgd, broken-sgd]", "[sgd]").replace(
        "[lr-only]", "[explode.yaml]").replace("name: faults", "name: diverge"))
    _, diverged = run_config_file(config, "diverge")
    assert (diverged["status"] == "diverged").all() and (diverged["attempt"] == 0).all()
    assert (diverged["total_steps"] < 40).all()


CRASH_WORKLOAD_PLUGIN = '''
"""mnist1d-mlp whose very first model build in the study kills its worker process."""
import os
from pathlib import Path

import workloads
from workloads.mnist1d_mlp import Mnist1dMlp


class CrashOnceMlp(Mnist1dMlp):
    name = "crash-once-mlp"

    def build_model(self, seed):
        marker = Path(os.environ["OPTCOMPARE_FAULT_DIR"]) / "crashed"
        if not marker.exists():
            marker.touch()
            os._exit(1)
        return super().build_model(seed)


workloads.register("crash-once-mlp", CrashOnceMlp)
'''


@pytest.mark.slow
def test_a_bundle_whose_worker_dies_is_retried_per_planned_trial(
    tmp_path, install_plugin, monkeypatch, run_config_file
):
    module = install_plugin("optcompare_crash_workload", CRASH_WORKLOAD_PLUGIN)
    (tmp_path / "faults").mkdir()
    monkeypatch.setenv("OPTCOMPARE_FAULT_DIR", str(tmp_path / "faults"))
    config = tmp_path / "bundles.yaml"
    config.write_text(
        f"name: bundled\nplugins: [{module}]\nworkloads: [{{name: crash-once-mlp, steps: 40, eval_every: 20}}]\n"
        "optimizers: [adam]\nprotocols: [lr-only]\ntrials_per_search: 8\nbundle_size: 4\n"
        "max_failures: 1\nreport_every_s: 0\n"
    )
    out, trials = run_config_file(config, "bundled")
    assert "trials: 8/8 finished (8 completed, 0 diverged, 0 failed)" in out
    experiment = str(tmp_path / "r" / "bundled")
    assert len(trials) == 8 and trials["trial_id"].is_unique
    retried = sorted(trials.loc[trials["attempt"] == 1, "trial_index"])
    assert retried in ([0, 1, 2, 3], [4, 5, 6, 7])  # the whole crashed bundle, each trial once more
    assert (trials.loc[trials["attempt"] == 0, "trial_index"].isin(retried)).sum() == 0
    curves = load_table(*open_experiment(experiment), "curves").table.to_pandas()
    merged = curves.merge(trials[["trial_id", "attempt"]], on="trial_id", suffixes=("", "_final"))
    assert (merged["attempt"] == merged["attempt_final"]).all()  # it died before any evaluation
    assert sorted(curves.groupby("trial_id")["step"].apply(list).map(tuple).unique()) == [(20, 40)]


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigkilled_driver_resumes_with_every_trial_exactly_once(tmp_path, capsys, install_plugin):
    # Every trial sleeps >= 6 s (600 steps x 10 ms), longer than the sink's 5 s flush, so the
    # curve rows of running trials reach disk mid-trial. 10 trials on 2 CPUs: the driver is
    # killed as soon as the disk holds a finished trial and a trial with curve rows but no
    # trials row, so some but never all trials have finished and at least one was cut off,
    # however fast the machine.
    module = install_plugin("optcompare_slow_plugin", SLOW_PLUGIN)
    config = tmp_path / "long.yaml"
    config.write_text(
        f"name: long\nplugins: [{module}]\nworkloads: [{{name: mnist1d-mlp, steps: 600, eval_every: 100}}]\n"
        "optimizers: [slow-sgd, slow-sgd-2]\nprotocols: [lr-only]\ntrials_per_search: 5\nreport_every_s: 0\n"
    )
    results = tmp_path / "r"
    driver = subprocess.Popen(
        [sys.executable, "-m", "optcompare", "run", str(config), "--results", str(results),
         "--num-cpus", "2", "--quiet"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    def on_disk(table: str) -> set[str]:
        ids: set[str] = set()
        for part in (results / "long" / table).rglob("part-*.parquet"):
            ids |= set(pq.read_table(part, columns=["trial_id"]).column("trial_id").to_pylist())
        return ids

    try:
        deadline = time.monotonic() + 240
        while True:
            finished = on_disk("trials")
            if finished and on_disk("curves") - finished:
                break
            assert time.monotonic() < deadline, "timed out waiting for a finished and a running trial on disk"
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
        driver.wait(timeout=60)
    experiment = str(results / "long")
    finished_before = set(load_experiment(experiment)[1].table.column("trial_id").to_pylist())
    started_before = set(load_table(*open_experiment(experiment), "curves").table.column("trial_id").to_pylist())
    cut_off = started_before - finished_before  # had curve rows, no trials row: interrupted
    before = len(finished_before)
    assert 0 < before < 10
    assert cut_off, "no trial was interrupted mid-run: the attempt checks below would be vacuous"
    assert main(["resume", experiment, "--num-cpus", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{before} trials finished, {10 - before} to run" in out
    trials = load_experiment(experiment)[1].table.to_pandas()
    assert len(trials) == 10 and trials["trial_id"].is_unique
    assert sorted(trials["trial_index"].tolist()) == sorted(list(range(5)) * 2)
    curves = load_table(*open_experiment(experiment), "curves").table.to_pandas()
    # Each trial's final rows come from its recorded attempt; a trial cut off mid-run restarts as
    # attempt 1, its old rows stay under attempt 0; trials finished before the kill keep attempt 0.
    by_id = trials.set_index("trial_id")
    assert (by_id.loc[sorted(finished_before), "attempt"] == 0).all()
    assert (by_id.loc[sorted(cut_off), "attempt"] == 1).all()
    for _, row in trials.iterrows():
        own = curves[(curves["trial_id"] == row["trial_id"]) & (curves["attempt"] == row["attempt"])]
        expected = list(range(100, 601, 100)) if row["status"] == "completed" else [row["total_steps"]]
        assert sorted(own["step"]) == expected
        older = curves[(curves["trial_id"] == row["trial_id"]) & (curves["attempt"] < row["attempt"])]
        assert older.empty == (row["trial_id"] not in cut_off)
    assert not [p for p in Path(experiment).rglob(".*.tmp")]


def test_resume_of_a_finished_or_foreign_directory(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "is not an optcompare experiment" in capsys.readouterr().err
