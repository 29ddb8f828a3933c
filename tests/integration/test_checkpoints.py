"""Checkpoints inside a trial through a real Ray: a worker killed after its trial's first
checkpoint is retried from that checkpoint, and the trial ends exactly as an uninterrupted one."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.load import load_table, open_experiment

KILL_PLUGIN = '''
"""SGD that sleeps 5 ms per step (so checkpoints fall between steps by wall time) and kills its
worker process at its 40th step, once per study (a marker in $OPTCOMPARE_FAULT_DIR)."""
import os
import time
from pathlib import Path

import optimizers


class KillerSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure=None):
        KillerSGD.steps += 1
        marker = Path(os.environ["OPTCOMPARE_FAULT_DIR"]) / "killed"
        if KillerSGD.steps == 40 and not marker.exists():
            marker.touch()
            os._exit(1)
        time.sleep(0.005)
        return super().step(closure)


optimizers.register_preset(
    "killer-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.05, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.05, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=KillerSGD,
)
'''

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
