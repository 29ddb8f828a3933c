"""A trial that hangs where its loop cannot check its time limit (a step that never returns,
with the stall watchdog set far out) holds its slot only until the driver ends it: the study
finishes, the trial is recorded as failed (not retried) and the summary names it (before: the
study sat at 11/12 for good, issue 16)."""

from __future__ import annotations

import pytest

from tuning.tune_callbacks import hung_after_s

HANG_ONCE_PLUGIN = '''
"""SGD whose step 5 never returns, in the first trial of the study to get there (a marker file
in $OPTCOMPARE_FAULT_DIR); the other trials train normally."""
import os
import time
from pathlib import Path

import optimizers


class HangOnceSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure=None):
        HangOnceSGD.steps += 1
        if HangOnceSGD.steps == 5:
            marker = Path(os.environ["OPTCOMPARE_FAULT_DIR"]) / "hung"
            if not marker.exists():
                marker.touch()
                time.sleep(3600)
        return super().step(closure)


optimizers.register_preset(
    "hang-once-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.01, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=HangOnceSGD,
)
'''


@pytest.mark.slow
def test_a_hung_trial_is_ended_recorded_and_named_and_the_study_finishes(
    tmp_path, install_plugin, monkeypatch, run_config_file
):
    module = install_plugin("optcompare_hang_once", HANG_ONCE_PLUGIN)
    (tmp_path / "faults").mkdir()
    monkeypatch.setenv("OPTCOMPARE_FAULT_DIR", str(tmp_path / "faults"))
    config = tmp_path / "hang.yaml"
    config.write_text(
        f"name: hang\nplugins: [{module}]\n"
        "workloads: [{name: mnist1d-mlp, steps: 40, eval_every: 20, trial_time_limit_s: 20, stall_timeout_s: 3600}]\n"
        "optimizers: [hang-once-sgd]\nprotocols: [lr-only]\ntrials_per_search: 3\nmax_failures: 2\n"
        "report_every_s: 0\n"
    )
    out, trials = run_config_file(config, "hang")
    assert "trials: 3/3 finished (2 completed, 0 diverged, 1 failed)" in out, out
    (row,) = trials[trials["status"] == "failed"].to_dict("records")
    assert row["attempt"] == 0  # not retried
    assert row["error"].startswith("hung: held its slot ") and "past its time limit of 20 s" in row["error"]
    assert f"1 hung or out of time: {row['trial_id']}" in out
    assert f"  hung or out of time: {row['trial_id']}: hung: held its slot" in out
    assert float(row["error"].split()[4]) >= hung_after_s(20)
