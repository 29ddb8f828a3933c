"""Checkpoints inside a trial through a real Ray: a worker killed after its trial's first
checkpoint is retried from that checkpoint, and the trial ends exactly as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal

import pandas as pd
import pytest

from analysis.load import load_table, open_experiment
from tests.integration.driver_process import start
from tests.waiting import wait_for

CONFIG = """name: {name}
plugins: [{module}]
workloads: [{{name: mnist1d-mlp, steps: 120, eval_every: 20, checkpoint_every_s: 0.05}}]
optimizers: [killer-sgd]
protocols: [lr-only]
trials_per_search: 1
max_failures: 2
report_every_s: 0
"""


def _curve(results, name, attempt):
    curves = load_table(*open_experiment(str(results / name)), "curves").table.to_pandas()
    rows = curves[curves["attempt"] == attempt].sort_values("step")
    return rows.drop(columns=["wall_time_s", "attempt"]).reset_index(drop=True)


@pytest.mark.slow
def test_a_killed_worker_s_trial_continues_from_its_checkpoint_and_ends_as_if_never_killed(
    study, use_plugin, fault_dir
):
    module = use_plugin("killer_sgd")
    ran = study.run(study.write("killed.yaml", CONFIG.format(name="killed", module=module)))
    assert (fault_dir / "killed").exists() and "trials: 1/1 finished (1 completed" in ran.out
    (row,) = ran.trials.to_dict("records")
    assert row["attempt"] == 1 and 0 < row["resumed_from_step"] < 40

    # The marker exists: no kill.
    (reference,) = study.run(study.write("whole.yaml", CONFIG.format(name="whole", module=module))).trials.to_dict("records")
    assert reference["attempt"] == 0 and pd.isna(reference["resumed_from_step"])
    for column in ("final_val_error", "final_train_loss", "final_test_error", "best_val_error", "total_steps"):
        assert row[column] == reference[column], column
    results = study.results
    restored = _curve(results, "killed", 1)
    assert restored["step"].tolist() == [20, 40, 60, 80, 100, 120]  # complete, no step twice
    assert restored.equals(_curve(results, "whole", 0))
    # The checkpoint is gone once the final row is written.
    assert not list((results / "killed" / "_tune").rglob("state.pt"))


@pytest.mark.slow
def test_resume_after_the_driver_was_killed_continues_the_trial_from_its_checkpoint(study, use_plugin, tmp_path):
    config = study.config(
        "long", plugins=[use_plugin("slow_sgd")],
        workload={"name": "mnist1d-mlp", "steps": 800, "eval_every": 100, "checkpoint_every_s": 0.5},
        optimizers=["slow-sgd"], report_every_s=0,
    )
    results = study.results
    driver = start(["run", str(config), "--results", str(results), "--num-cpus", "2", "--quiet"], tmp_path / "driver.log")
    try:
        wait_for(lambda: list((results / "long" / "_tune").rglob("meta.json")), 120, "a checkpoint")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started, mid-trial
        driver.wait(timeout=60)
    saved = max(json.loads(p.read_text())["step"] for p in (results / "long" / "_tune").rglob("meta.json"))
    assert 0 < saved < 800
    (row,) = study.resume("long").trials.to_dict("records")
    assert row["status"] == "completed" and row["total_steps"] == 800
    assert row["attempt"] == 1 and row["resumed_from_step"] >= saved
    curve = _curve(results, "long", 1)
    assert curve["step"].tolist() == list(range(100, 801, 100))  # complete, no step twice


GRID = """name: grid
schedule: constant
search: grid
optimizers:
  sgd:
    learning_rate: {feasible_points: [0.05, 0.1, 1.0e+4]}
"""

BUNDLE_CONFIG = """name: {name}
plugins: [{module}]
workloads: [{{name: kill-bundle-mlp, steps: 120, eval_every: 20, checkpoint_every_s: 0.05, bundle_size: 3}}]
optimizers: [sgd]
protocols: [grid.yaml]
trials_per_search: 3
max_failures: 2
report_every_s: 0
"""


@pytest.mark.slow
def test_a_bundle_continues_from_its_checkpoint_with_only_its_unfinished_members(study, use_plugin, fault_dir):
    module = use_plugin("kill_bundle_workload")
    study.write("grid.yaml", GRID)
    ran = study.run(study.write("killed.yaml", BUNDLE_CONFIG.format(name="killed", module=module)))
    assert (fault_dir / "killed").exists() and "trials: 3/3 finished (2 completed, 1 diverged" in ran.out
    killed = ran.trials
    # The marker exists: no kill.
    whole = study.run(study.write("whole.yaml", BUNDLE_CONFIG.format(name="whole", module=module))).trials
    killed, whole = killed.set_index("trial_index"), whole.set_index("trial_index")
    # The member at learning rate 1e4 diverged in its first steps, before the kill: it is not
    # retried. The other two continued together from the bundle's checkpoint as attempt 1.
    assert killed.loc[2, "status"] == "diverged" and killed.loc[2, "attempt"] == 0
    for index in (0, 1):
        assert killed.loc[index, "attempt"] == 1 and killed.loc[index, "resumed_from_step"] > 0
        for column in ("final_val_error", "final_train_loss", "total_steps"):
            assert killed.loc[index, column] == whole.loc[index, column], column
        trial = killed.loc[index, "trial_id"]
        curves = ran.curves
        steps = curves[(curves["trial_id"] == trial) & (curves["attempt"] == 1)]["step"].tolist()
        assert sorted(steps) == [20, 40, 60, 80, 100, 120]
    assert not list((study.results / "killed" / "_tune").rglob("state.pt"))
