"""Signals to a real driver process: the first SIGINT or SIGTERM (to the driver or, as Ctrl-C
sends it, to its process group) stops it within the documented bound with 130 / 143, leaving
no lease and none of its Ray's processes; a second signal exits at once; after a SIGKILL the
next ``resume`` stops the orphaned Ray processes. Each time ``resume`` then completes the study
with every trial exactly once (counted from the Parquet files)."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from driver_process import SLOW_CONFIG, doubled, lease_with_ray, start, trial_ids, wait_for
from plugin_fixtures import SLOW_PLUGIN

from optcompare.cli import main
from tuning.lease import LEASE_FILE
from tuning.ray_processes import session_processes
from tuning.signals import EXIT_BOUND_S

TRIALS = 8


@pytest.fixture
def slow_study(tmp_path, install_plugin):
    """(config path, experiment dir) of an 8-trial study of 4 s trials."""
    module = install_plugin("optcompare_slow_signals", SLOW_PLUGIN)
    config = tmp_path / "slow.yaml"
    config.write_text(SLOW_CONFIG.format(name="slow", module=module, steps=400, trials=TRIALS))
    return config, tmp_path / "r" / "slow"


def _started_driver(config, experiment, tmp_path):
    """A driver running the study, once its lease records its Ray and a trial has finished."""
    driver = start(["run", str(config), "--results", str(experiment.parent), "--num-cpus", "2", "--quiet"],
                   tmp_path / "driver.log")
    record = wait_for(lambda: lease_with_ray(experiment), 120, "the lease to record the driver's Ray")
    wait_for(lambda: trial_ids(experiment), 180, "a finished trial on disk")
    return driver, record


def _resume_completes(experiment, capsys) -> tuple[str, str]:
    """(stdout, stderr) of a ``resume`` that finished the study, every trial exactly once."""
    assert main(["resume", str(experiment), "--num-cpus", "2", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert sorted(trial_ids(experiment)) == sorted(set(trial_ids(experiment)))
    assert len(trial_ids(experiment)) == TRIALS
    assert doubled(experiment) == (0, 0)
    return out, err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "status", "group"),
    [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
    ids=["sigint-to-the-group", "sigterm-to-the-driver"],
)
def test_a_signal_stops_the_driver_in_time_and_resume_completes(
    slow_study, tmp_path, capsys, signum, status, group
):
    config, experiment = slow_study
    driver, record = _started_driver(config, experiment, tmp_path)
    sent = time.monotonic()
    if group:
        os.killpg(driver.pid, signum)  # as Ctrl-C: the driver and every process of its group
    else:
        driver.send_signal(signum)
    try:
        rc = driver.wait(timeout=EXIT_BOUND_S + 15)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    took = time.monotonic() - sent
    log = (tmp_path / "driver.log").read_text()
    assert rc == status, log
    assert took < EXIT_BOUND_S + 5, f"exited {took:.0f} s after the signal"
    assert f"stopped by {signal.Signals(signum).name}; continue with: optcompare resume" in log
    assert "Stop signal received" not in log and "tune-0001" not in log  # Tune's handler is off
    assert not (experiment / LEASE_FILE).exists()  # released
    wait_for(lambda: not session_processes(record["ray"]), 10, "the driver's Ray processes to end")
    finished = len(trial_ids(experiment))
    assert 0 < finished < TRIALS
    out, _ = _resume_completes(experiment, capsys)
    assert f"{finished} trials finished, {TRIALS - finished} to run" in out


@pytest.mark.slow
def test_a_second_signal_exits_at_once(slow_study, tmp_path):
    config, experiment = slow_study
    driver, record = _started_driver(config, experiment, tmp_path)
    driver.send_signal(signal.SIGINT)
    time.sleep(1)
    sent = time.monotonic()
    driver.send_signal(signal.SIGINT)
    try:
        rc = driver.wait(timeout=15)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert rc == 130 and time.monotonic() - sent < 5
    assert "SIGINT again: exiting now" in (tmp_path / "driver.log").read_text()
    assert not (experiment / LEASE_FILE).exists()
    wait_for(lambda: not session_processes(record["ray"]), 10, "the driver's Ray processes to end")


@pytest.mark.slow
def test_after_a_sigkill_resume_stops_the_orphaned_ray_processes(slow_study, tmp_path, capsys):
    config, experiment = slow_study
    driver, record = _started_driver(config, experiment, tmp_path)
    driver.send_signal(signal.SIGKILL)  # the driver only: its Ray's agents are left behind
    driver.wait(timeout=30)
    time.sleep(3)
    orphans = session_processes(record["ray"])
    assert orphans, "no orphaned Ray process: the check below would be vacuous"
    _, err = _resume_completes(experiment, capsys)
    assert "took over a stale lease (its driver (pid" in err
    stopped = re.search(r"stopped (\d+) orphaned processes of the dead driver's Ray session", err)
    assert stopped and 1 <= int(stopped.group(1)) <= len(orphans)  # some may have exited by then
    assert not session_processes(record["ray"])
