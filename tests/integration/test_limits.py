"""Time limits and the stall watchdog through a real Ray: a slow trial stops as failed at its
limit without retries; a hung trial's worker is killed and the trial retried, then failed."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_a_trial_past_its_time_limit_is_failed_once_with_the_step(study, use_plugin):
    ran = study.run(study.config(
        "limit", plugins=[use_plugin("slow_sgd")],
        workload={"name": "mnist1d-mlp", "steps": 100000, "eval_every": 50, "trial_time_limit_s": 2},
        optimizers=["slow-sgd"], max_failures=2,
    ))
    out, trials = ran.out, ran.trials
    assert "trials: 1/1 finished (0 completed, 0 diverged, 1 failed)" in out
    (row,) = trials.to_dict("records")
    assert row["status"] == "failed" and row["attempt"] == 0  # not retried
    step = int(row["total_steps"])
    assert 0 < step < 100000 and row["error"] == f"time limit of 2 s reached at step {step}"
    assert row["wall_time_s"] >= 2.0


@pytest.mark.slow
def test_a_stalled_trial_is_killed_retried_and_failed_saying_it_stalled(study, use_plugin):
    ran = study.run(study.config(
        "hang", plugins=[use_plugin("hanging_sgd")],
        workload={"name": "mnist1d-mlp", "steps": 50, "eval_every": 10, "stall_timeout_s": 2},
        optimizers=["hanging-sgd"], max_failures=1, report_every_s=0,
    ))
    out, trials = ran.out, ran.trials
    assert "trials: 1/1 finished (0 completed, 0 diverged, 1 failed)" in out
    (row,) = trials.to_dict("records")
    # Every attempt hangs at its fifth step (a fresh worker process each time): retried once.
    assert row["status"] == "failed" and row["attempt"] == 1
    assert row["error"].startswith("stalled: no training step for ") and "after step 4" in row["error"]
