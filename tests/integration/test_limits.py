"""Time limits and the stall watchdog through a real Ray: a slow trial stops as failed at its
limit without retries; a hung trial's worker is killed and the trial retried, then failed."""

from __future__ import annotations

import pytest
from plugin_fixtures import SLOW_PLUGIN

HANG_PLUGIN = '''
"""SGD whose step 5 never returns (a stuck data loader or collective, as the worker sees it)."""
import time

import optimizers


class HangingSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure=None):
        HangingSGD.steps += 1
        if HangingSGD.steps == 5:
            time.sleep(3600)
        return super().step(closure)


optimizers.register_preset(
    "hanging-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.01, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=HangingSGD,
)
'''


@pytest.mark.slow
def test_a_trial_past_its_time_limit_is_failed_once_with_the_step(tmp_path, install_plugin, run_config_file):
    module = install_plugin("optcompare_slow_limits", SLOW_PLUGIN)
    config = tmp_path / "limit.yaml"
    config.write_text(
        f"name: limit\nplugins: [{module}]\n"
        "workloads: [{name: mnist1d-mlp, steps: 100000, eval_every: 50, trial_time_limit_s: 2}]\n"
        "optimizers: [slow-sgd]\nprotocols: [lr-only]\ntrials_per_search: 1\nmax_failures: 2\n"
    )
    out, trials = run_config_file(config, "limit")
    assert "trials: 1/1 finished (0 completed, 0 diverged, 1 failed)" in out
    (row,) = trials.to_dict("records")
    assert row["status"] == "failed" and row["attempt"] == 0  # not retried
    step = int(row["total_steps"])
    assert 0 < step < 100000 and row["error"] == f"time limit of 2 s reached at step {step}"
    assert row["wall_time_s"] >= 2.0


@pytest.mark.slow
def test_a_stalled_trial_is_killed_retried_and_failed_saying_it_stalled(tmp_path, install_plugin, run_config_file):
    module = install_plugin("optcompare_hang_plugin", HANG_PLUGIN)
    config = tmp_path / "hang.yaml"
    config.write_text(
        f"name: hang\nplugins: [{module}]\n"
        "workloads: [{name: mnist1d-mlp, steps: 50, eval_every: 10, stall_timeout_s: 2}]\n"
        "optimizers: [hanging-sgd]\nprotocols: [lr-only]\ntrials_per_search: 1\nmax_failures: 1\n"
        "report_every_s: 0\n"
    )
    out, trials = run_config_file(config, "hang")
    assert "trials: 1/1 finished (0 completed, 0 diverged, 1 failed)" in out
    (row,) = trials.to_dict("records")
    # Every attempt hangs at its fifth step (a fresh worker process each time): retried once.
    assert row["status"] == "failed" and row["attempt"] == 1
    assert row["error"].startswith("stalled: no training step for ") and "after step 4" in row["error"]
