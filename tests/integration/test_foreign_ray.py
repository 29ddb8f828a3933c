"""A Ray running elsewhere on the machine (a user's cluster, started with ``ray start --head``
and exported in ``RAY_ADDRESS``) changes nothing for the tests or for a local study: the suite's
Rays run in the suite's own directory and nodes, a study's driver starts its own Ray and
finishes, and the user's Ray is left running, untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest

from tests.integration.driver_process import (
    lease_with_ray,
    slow_study_yaml,
    start,
    trial_ids,
)
from tests.ports import free_port
from tests.waiting import wait_for


class ForeignRay(NamedTuple):
    address: str
    temp_dir: Path
    pids: frozenset[int]
    """The head's processes (gcs_server, raylet and the rest) once it is up."""


def _alive(pids: frozenset[int]) -> frozenset[int]:
    return frozenset(p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE)


@pytest.fixture
def foreign_ray() -> Iterator[ForeignRay]:
    """A Ray head as a user starts one, on a free port and in its own temp dir, in a process
    group of its own (``ray start --block``), which is stopped by its pid at the end."""
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="oc-user-", dir="/tmp"))
    ray_cli = Path(sys.executable).with_name("ray")
    env = {k: v for k, v in os.environ.items() if k != "RAY_TMPDIR"}
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
         "--include-dashboard=false", f"--temp-dir={temp_dir}", "--disable-usage-stats"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        def raylet_up() -> frozenset[int]:
            assert head.poll() is None, "ray start --head exited"
            children = psutil.Process(head.pid).children(recursive=True)
            names = {c.name() for c in children}
            return frozenset(c.pid for c in children) if "raylet" in names and "gcs_server" in names else frozenset()

        pids = wait_for(raylet_up, 120, "the user's Ray head")
        yield ForeignRay(f"127.0.0.1:{port}", temp_dir, pids)
    finally:
        stragglers = [c for c in psutil.Process(head.pid).children(recursive=True)] if head.poll() is None else []
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:  # `ray start --block` may take its time: no need here
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)
        for child in stragglers:
            if child.is_running():
                child.kill()
        subprocess.run(["rm", "-rf", str(temp_dir)], check=False)


@pytest.mark.slow
def test_a_ray_running_elsewhere_changes_nothing(foreign_ray, study, use_plugin, monkeypatch, tmp_path):
    import ray

    monkeypatch.setenv("RAY_ADDRESS", foreign_ray.address)  # as exported in the user's shell
    suite_dir = os.environ["RAY_TMPDIR"]
    # The suite's shared Ray is its own: not the user's node, not in the user's directory.
    context = ray.get_runtime_context()
    node = ray._private.worker.global_worker.node
    assert node.get_session_dir_path().startswith(suite_dir)
    assert not node.get_session_dir_path().startswith(str(foreign_ray.temp_dir))
    assert node.node_ip_address == "127.0.0.1"  # and reachable from this machine only

    # A local study's driver (a process of its own, which starts its own Ray) neither joins the
    # user's Ray nor stops it.
    use_plugin("slow_sgd")
    config = study.write("beside.yaml", slow_study_yaml("beside", steps=100, trials=2))
    experiment = study.experiment("beside")
    driver = start(["run", str(config), "--results", str(study.results), "--num-cpus", "2", "--quiet"],
                   tmp_path / "driver.log")
    try:
        record = wait_for(lambda: lease_with_ray(experiment), 120, "the driver's lease")["ray"]
        assert record["session_dir"].startswith(suite_dir), record
        assert record["node_id"] != context.get_node_id()
        assert driver.wait(timeout=300) == 0, (tmp_path / "driver.log").read_text()
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert sorted(trial_ids(experiment)) == ["mnist1d-mlp/lr-only/slow-sgd/00000", "mnist1d-mlp/lr-only/slow-sgd/00001"]
    assert _alive(foreign_ray.pids) == foreign_ray.pids  # the user's Ray still runs, whole
    user_sessions = [p.name for p in foreign_ray.temp_dir.iterdir() if p.name.startswith("session_2")]
    assert len(user_sessions) == 1  # and no other Ray started in the user's directory
