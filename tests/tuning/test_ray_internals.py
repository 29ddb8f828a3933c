"""The private Ray attributes of tuning/driver/ray_internals.py exist on the installed Ray (checked
without starting Ray): a Ray release that moves one fails here, by name."""

from __future__ import annotations

import ray._private.node
import ray._private.worker
from ray.tune.experiment.trial import _TemporaryTrialState

from tuning.driver.ray_internals import trial_actor


def test_the_session_directory_is_still_where_session_dir_reads_it():
    assert "node" in vars(ray._private.worker.global_worker), "ray._private.worker.global_worker.node is gone"
    assert callable(getattr(ray._private.node.Node, "get_session_dir_path", None)), (
        "ray._private.node.Node.get_session_dir_path is gone"
    )


def test_a_tune_trial_still_holds_its_actor_where_trial_actor_reads_it():
    state = _TemporaryTrialState()
    assert "ray_actor" in vars(state), "Tune's trial.temporary_state.ray_actor is gone"

    class Trial:  # what trial_actor reads of a Tune Trial
        temporary_state = state

    assert trial_actor(Trial()) is None
    state.ray_actor = marker = object()
    assert trial_actor(Trial()) is marker
    assert trial_actor(object()) is None  # a trial without the state: no actor, no error


def test_local_ray_setup_patches_what_ray_starts_its_processes_with_and_puts_it_back():
    import os
    import subprocess

    from ray._private import ray_constants, services

    from tuning.driver.ray_internals import LOOPBACK_ENV, local_ray_setup

    assert issubclass(services.ConsolePopen, subprocess.Popen), "ray._private.services.ConsolePopen is gone"
    assert isinstance(ray_constants.ENABLE_RAY_CLUSTER, bool), "ray_constants.ENABLE_RAY_CLUSTER is gone"
    assert services.get_node_ip_address.__module__ == services.__name__
    popen, cluster, env = services.ConsolePopen, ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(LOOPBACK_ENV)
    with local_ray_setup():
        assert services.get_node_ip_address() == "127.0.0.1"  # what Ray binds its servers to
        assert os.environ[LOOPBACK_ENV] == "0"
        child = services.ConsolePopen(["sh", "-c", "ps -o sid= -p $$"], stdout=subprocess.PIPE, text=True)
        out, _ = child.communicate(timeout=10)
        assert int(out) == child.pid  # a session of its own: it leads it
    assert (services.ConsolePopen, ray_constants.ENABLE_RAY_CLUSTER) == (popen, cluster)
    assert os.environ.get(LOOPBACK_ENV) == env


def test_latest_trial_error_reads_the_last_failure_of_tune_s_local_error_file(tmp_path):
    from tuning.driver.ray_internals import latest_trial_error

    class Trial:  # what latest_trial_error reads of a Tune Trial
        error_file = str(tmp_path / "error.txt")

    assert latest_trial_error(Trial()) == ""  # no failure yet: no file
    (tmp_path / "error.txt").write_text(
        "Failure # 1 (occurred at 2026-12-07_10-00-00)\nRayActorError: first\n"
        "Failure # 2 (occurred at 2026-12-07_10-01-00)\nkilled by Ray's memory monitor: second\n"
    )
    assert latest_trial_error(Trial()) == "2 (occurred at 2026-12-07_10-01-00)\nkilled by Ray's memory monitor: second\n"
    assert latest_trial_error(object()) == ""  # a trial without the attribute: no error, no crash
