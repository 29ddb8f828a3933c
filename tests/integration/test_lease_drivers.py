"""One driver per experiment, with real driver processes: a ``resume`` while the driver runs is
refused (exit 2, naming it); after a SIGKILLed driver, two ``resume`` started at once finish the
study with every trial exactly once (before the lease: 15 trials doubled of 24, issue 16)."""

from __future__ import annotations

import os
import signal

import pytest

from tests.integration.driver_process import (
    doubled,
    lease_with_ray,
    slow_study_yaml,
    start,
    trial_ids,
)
from tests.waiting import wait_for

TRIALS = 8


@pytest.mark.slow
def test_one_driver_per_experiment(tmp_path, own_ray):
    config = tmp_path / "slow.yaml"
    config.write_text(slow_study_yaml("slow", steps=200, trials=TRIALS))  # 2 s trials
    experiment = tmp_path / "r" / "slow"
    driver = start(["run", str(config), "--results", str(tmp_path / "r"), "--num-cpus", "2", "--quiet"],
                   tmp_path / "driver.log")
    try:
        wait_for(lambda: lease_with_ray(experiment), 120, "the driver's lease")
        # While the driver runs, a resume is refused (before it reads rows or starts Ray).
        second = start(["resume", str(experiment), "--num-cpus", "2", "--quiet"], tmp_path / "second.log")
        assert second.wait(timeout=60) == 2
        refused = (tmp_path / "second.log").read_text()
        assert f"another driver is running this experiment: pid {driver.pid} on host" in refused
        assert "trials finished" not in refused
        wait_for(lambda: trial_ids(experiment), 180, "a finished trial on disk")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    before = len(trial_ids(experiment))
    assert 0 < before < TRIALS

    resumes = [
        start(["resume", str(experiment), "--num-cpus", "1", "--quiet"], tmp_path / f"resume-{i}.log")
        for i in range(2)
    ]
    codes = sorted(r.wait(timeout=600) for r in resumes)
    logs = [(tmp_path / f"resume-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 2], logs
    assert sum("another driver is running this experiment" in log for log in logs) == 1
    assert sum("took over a stale lease" in log for log in logs) == 1
    assert len(trial_ids(experiment)) == TRIALS and len(set(trial_ids(experiment))) == TRIALS
    assert doubled(experiment) == (0, 0)
