"""A trial killed by Ray's real memory monitor is a trial failure (probe 1 of the reliability
issue). Before, Ray raised ``OutOfMemoryError``, which Tune's actor manager does not expect: the
study ended with "Caught unexpected exception" (exit 1) and the trial's row was missing.

The test lowers ``RAY_memory_usage_threshold`` for the study's own Ray to what this machine uses
now plus ``MARGIN_BYTES``, and the plugin fills memory to ``OVERSHOOT_BYTES`` above that
threshold, measured when it fills. So the monitor acts on the plugin's worker and on nothing else
while the rest of the machine (the study's own Ray processes and workers, a test on the other
xdist worker) grows by less than the margin. A margin of half a 4 GiB fixed hog was not enough:
in CI the monitor also killed an innocent retry, and a trial failed."""

from __future__ import annotations

import os
import signal

import pytest
from ray._private.utils import get_system_memory, get_used_memory

from tests.integration.driver_process import rows, start
from tests.integration.scaffold import study_yaml
from tests.plugins import HOG_BYTES_VARIABLE

MARGIN_BYTES = 4 * 1024**3
OVERSHOOT_BYTES = 1024**3
TRIALS = 4


@pytest.mark.slow
def test_a_bundle_killed_by_ray_s_memory_monitor_is_retried_at_half_its_size_and_the_study_completes(
    study, use_plugin, fault_dir, tmp_path
):
    total, used = get_system_memory(), get_used_memory()
    needed = MARGIN_BYTES + OVERSHOOT_BYTES
    if used + needed > 0.95 * total:
        pytest.skip(f"needs {needed / 2**30:.0f} GiB free; {used / 2**30:.1f} of {total / 2**30:.1f} GiB in use")
    threshold = (used + MARGIN_BYTES) / total
    module = use_plugin("memory_hog_workload")
    config = study.write("hog.yaml", study_yaml(
        "hog", plugins=[module], workload={"name": "memory-hog-mlp", "steps": 40, "eval_every": 20},
        trials=TRIALS, bundle_size=2, max_failures=1, report_every_s=0,
    ))
    env = {
        "RAY_memory_usage_threshold": f"{threshold:.4f}", "RAY_memory_monitor_refresh_ms": "100",
        HOG_BYTES_VARIABLE: str(OVERSHOOT_BYTES),
    }
    log = tmp_path / "driver.log"
    driver = start(["run", str(config), "--results", str(study.results), "--num-cpus", "1", "--quiet"], log, env)
    try:
        rc = driver.wait(timeout=240)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    text = log.read_text()
    assert (fault_dir / "hog").exists(), text  # the plugin filled its memory
    assert rc == 0, text
    assert f"trials: {TRIALS}/{TRIALS} finished ({TRIALS} completed" in text, text
    assert "killed by Ray's memory monitor at " in text and "lower bundle_size or raise resources.memory_per_trial" in text
    assert "retried in bundles of at most 1 (was 2)" in text
    trials = rows(study.experiment("hog"), "trials", ["trial_id", "attempt", "status"])
    assert len(trials) == TRIALS and {t[2] for t in trials} == {"completed"}
    assert sorted(t[1] for t in trials) == [0, 0, 1, 1]  # the killed bundle's two trials, once more each
