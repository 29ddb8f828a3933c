"""Checkpoints inside a trial through a real Ray: a worker killed after its trial's first
checkpoint is retried from that checkpoint, and the trial ends exactly as an uninterrupted one."""

from __future__ import annotations

import pandas as pd
import pytest
from killer_plugin import KILL_PLUGIN

from analysis.load import load_table, open_experiment

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
    tmp_path, install_plugin, monkeypatch, run_config_file
):
    module = install_plugin("optcompare_kill_plugin", KILL_PLUGIN)
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv("OPTCOMPARE_FAULT_DIR", str(faults))
    config = tmp_path / "killed.yaml"
    config.write_text(CONFIG.format(name="killed", module=module))
    out, killed = run_config_file(config, "killed")
    assert (faults / "killed").exists() and "trials: 1/1 finished (1 completed" in out
    (row,) = killed.to_dict("records")
    assert row["attempt"] == 1 and 0 < row["resumed_from_step"] < 40

    config.write_text(CONFIG.format(name="whole", module=module))  # the marker exists: no kill
    _, whole = run_config_file(config, "whole")
    (reference,) = whole.to_dict("records")
    assert reference["attempt"] == 0 and pd.isna(reference["resumed_from_step"])
    for column in ("final_val_error", "final_train_loss", "final_test_error", "best_val_error", "total_steps"):
        assert row[column] == reference[column], column
    results = tmp_path / "r"
    restored = _curve(results, "killed", 1)
    assert restored["step"].tolist() == [20, 40, 60, 80, 100, 120]  # complete, no step twice
    assert restored.equals(_curve(results, "whole", 0))
    # The checkpoint is gone once the final row is written.
    assert not list((results / "killed" / "_tune").rglob("state.pt"))


@pytest.mark.slow
def test_resume_after_the_driver_was_killed_continues_the_trial_from_its_checkpoint(tmp_path, capsys, install_plugin):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from plugin_fixtures import SLOW_PLUGIN

    from analysis.load import load_experiment
    from optcompare.cli import main

    module = install_plugin("optcompare_slow_resume", SLOW_PLUGIN)
    config = tmp_path / "long.yaml"
    config.write_text(
        f"name: long\nplugins: [{module}]\n"
        "workloads: [{name: mnist1d-mlp, steps: 800, eval_every: 100, checkpoint_every_s: 0.5}]\n"
        "optimizers: [slow-sgd]\nprotocols: [lr-only]\ntrials_per_search: 1\nreport_every_s: 0\n"
    )
    results = tmp_path / "r"
    driver = subprocess.Popen(
        [sys.executable, "-m", "optcompare", "run", str(config), "--results", str(results), "--num-cpus", "2", "--quiet"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((results / "long" / "_tune").rglob("meta.json")):
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.1)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started, mid-trial
        driver.wait(timeout=60)
    saved = max(json.loads(p.read_text())["step"] for p in (results / "long" / "_tune").rglob("meta.json"))
    assert 0 < saved < 800
    assert main(["resume", str(results / "long"), "--num-cpus", "2", "--quiet"]) == 0
    capsys.readouterr()
    (row,) = load_experiment(str(results / "long"))[1].table.to_pandas().to_dict("records")
    assert row["status"] == "completed" and row["total_steps"] == 800
    assert row["attempt"] == 1 and row["resumed_from_step"] >= saved
    curve = _curve(results, "long", 1)
    assert curve["step"].tolist() == list(range(100, 801, 100))  # complete, no step twice


BUNDLE_KILL_PLUGIN = '''
"""mnist1d-mlp whose batches take 3 ms more, and whose 60th minibatch kills its worker process,
once per study (a marker in $OPTCOMPARE_FAULT_DIR)."""
import os
import time
from pathlib import Path

import workloads
from workloads.mnist1d_mlp import Mnist1dMlp


class KillBundleMlp(Mnist1dMlp):
    name = "kill-bundle-mlp"
    calls = 0

    def eval_transform(self, x):
        KillBundleMlp.calls += 1
        marker = Path(os.environ["OPTCOMPARE_FAULT_DIR"]) / "killed"
        if KillBundleMlp.calls == 60 and not marker.exists():
            marker.touch()
            os._exit(1)
        time.sleep(0.003)
        return super().eval_transform(x)


workloads.register("kill-bundle-mlp", KillBundleMlp)
'''

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
def test_a_bundle_continues_from_its_checkpoint_with_only_its_unfinished_members(
    tmp_path, install_plugin, monkeypatch, run_config_file
):
    module = install_plugin("optcompare_bundle_kill_plugin", BUNDLE_KILL_PLUGIN)
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv("OPTCOMPARE_FAULT_DIR", str(faults))
    (tmp_path / "grid.yaml").write_text(GRID)
    config = tmp_path / "bundle.yaml"
    config.write_text(BUNDLE_CONFIG.format(name="killed", module=module))
    out, killed = run_config_file(config, "killed")
    assert (faults / "killed").exists() and "trials: 3/3 finished (2 completed, 1 diverged" in out
    config.write_text(BUNDLE_CONFIG.format(name="whole", module=module))  # the marker exists: no kill
    _, whole = run_config_file(config, "whole")
    killed, whole = killed.set_index("trial_index"), whole.set_index("trial_index")
    # The member at learning rate 1e4 diverged in its first steps, before the kill: it is not
    # retried. The other two continued together from the bundle's checkpoint as attempt 1.
    assert killed.loc[2, "status"] == "diverged" and killed.loc[2, "attempt"] == 0
    for index in (0, 1):
        assert killed.loc[index, "attempt"] == 1 and killed.loc[index, "resumed_from_step"] > 0
        for column in ("final_val_error", "final_train_loss", "total_steps"):
            assert killed.loc[index, column] == whole.loc[index, column], column
        trial = killed.loc[index, "trial_id"]
        curves = load_table(*open_experiment(str(tmp_path / "r" / "killed")), "curves").table.to_pandas()
        steps = curves[(curves["trial_id"] == trial) & (curves["attempt"] == 1)]["step"].tolist()
        assert sorted(steps) == [20, 40, 60, 80, 100, 120]
    assert not list((tmp_path / "r" / "killed" / "_tune").rglob("state.pt"))
