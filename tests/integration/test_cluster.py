"""A real multi-node Ray on 127.0.0.1: losing a node mid-study, and submitting through Ray Jobs.
Each test starts its own cluster (ray.cluster_utils.Cluster) and shuts down only that."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from analysis.load import load_experiment
from optcompare.cli import main
from tests.ports import free_port
from tests.waiting import wait_for


@pytest.fixture
def two_node_cluster(own_ray, use_plugin):
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster, worker
    cluster.shutdown()


@pytest.mark.slow
def test_study_survives_losing_a_node(tmp_path, capsys, use_plugin, two_node_cluster):
    cluster, worker = two_node_cluster
    module = use_plugin("slow_sgd")  # >= 3 s per trial
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: nodes\nplugins: [{module}]\nworkloads: [{{name: mnist1d-mlp, steps: 300, eval_every: 100}}]\n"
        "optimizers: [slow-sgd, slow-sgd-2]\nprotocols: [lr-only]\ntrials_per_search: 4\n"
        "max_failures: 3\nreport_every_s: 0\n"
    )
    removed = threading.Event()
    removed_at: list[float] = []

    def remove_worker_when_trials_run() -> None:
        parts = tmp_path / "r" / "nodes" / "curves"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not list(parts.rglob("part-*.parquet")):
            time.sleep(0.5)
        cluster.remove_node(worker, allow_graceful=False)  # as a crashed machine
        removed.set()
        removed_at.append(time.monotonic())

    killer = threading.Thread(target=remove_worker_when_trials_run, daemon=True)
    killer.start()
    code = main(["run", str(config), "--results", str(tmp_path / "r"), "--address", cluster.address, "--quiet"])
    finished_at = time.monotonic()
    killer.join(timeout=60)
    assert code == 0 and removed.is_set()
    assert removed_at[0] < finished_at  # the node went away while the study ran
    assert "trials: 8/8 finished" in capsys.readouterr().out
    trials = load_experiment(str(tmp_path / "r" / "nodes"))[1].table.to_pandas()
    assert len(trials) == 8 and trials["trial_id"].is_unique
    assert sorted(trials["trial_index"]) == sorted(list(range(4)) * 2)
    assert set(trials["status"]) <= {"completed", "diverged"}
    # Trials cut off on the lost node ran again as their next attempt.
    assert (trials["attempt"] >= 1).any(), trials[["trial_id", "attempt"]]


@pytest.mark.slow
def test_a_checkpointed_trial_continues_on_another_node_when_its_node_is_lost(
    tmp_path, capsys, use_plugin, fault_dir, own_ray
):
    from ray.cluster_utils import Cluster

    from tests.plugins.node_sgd import NODE_FILE

    module = use_plugin("node_sgd")
    node_file = fault_dir / NODE_FILE
    # The head runs no trial (0 CPUs): the trial runs on one of two worker nodes, which share this
    # machine's disk, the checkpoint store of a local results root.
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 0, "include_dashboard": False})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: lost\nplugins: [{module}]\n"
        "workloads: [{name: mnist1d-mlp, steps: 800, eval_every: 100, checkpoint_every_s: 0.5}]\n"
        "optimizers: [node-sgd]\nprotocols: [lr-only]\ntrials_per_search: 1\nmax_failures: 2\nreport_every_s: 0\n"
    )
    lost: list[str] = []

    def remove_the_trial_s_node_after_a_checkpoint() -> None:
        store = tmp_path / "r" / "lost" / "_tune"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (node_file.exists() and list(store.rglob("meta.json"))):
            time.sleep(0.1)
        node_id = node_file.read_text()
        node = next(n for n in nodes if n.node_id == node_id)
        lost.append(node_id)
        cluster.remove_node(node, allow_graceful=False)  # as a crashed machine

    killer = threading.Thread(target=remove_the_trial_s_node_after_a_checkpoint, daemon=True)
    killer.start()
    try:
        code = main(["run", str(config), "--results", str(tmp_path / "r"), "--address", cluster.address, "--quiet"])
        killer.join(timeout=60)
    finally:
        cluster.shutdown()
    assert code == 0 and lost
    assert "trials: 1/1 finished (1 completed" in capsys.readouterr().out
    (row,) = load_experiment(str(tmp_path / "r" / "lost"))[1].table.to_pandas().to_dict("records")
    assert row["attempt"] == 1 and row["resumed_from_step"] > 0 and row["total_steps"] == 800


def _job_server_answers(address: str) -> bool:
    from ray.job_submission import JobSubmissionClient

    try:
        JobSubmissionClient(address).list_jobs()
    except Exception:  # noqa: BLE001 - not up yet, whatever the client raises
        return False
    return True


@pytest.mark.slow
def test_submit_through_ray_jobs(tmp_path, capsys, own_ray):
    from ray.cluster_utils import Cluster

    port = free_port()
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={
            "num_cpus": 2, "include_dashboard": True,
            "dashboard_host": "127.0.0.1", "dashboard_port": port,
            # Not the default 52365: a Ray running elsewhere on the machine (a user's study, or
            # another test worker's) holds it, and the job server then finds no agent.
            "dashboard_agent_listen_port": free_port(),
        },
    )
    try:
        config = tmp_path / "job" / "c.yaml"
        config.parent.mkdir()
        config.write_text(
            "name: jobbed\nworkloads: [{name: mnist1d-mlp, steps: 40, eval_every: 20}]\n"
            "optimizers: [sgd]\nprotocols: [lr-only]\ntrials_per_search: 2\n"
        )
        results = tmp_path / "results"
        address = f"http://127.0.0.1:{port}"
        wait_for(lambda: _job_server_answers(address), 120, "the Ray job server, which starts after the head")
        code = main(["submit", str(config), "--address", address, "--results", str(results),
                     "--wait", "--python", sys.executable])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        assert "ray job logs --follow" in out and "SUCCEEDED" in out
        trials = load_experiment(str(results / "jobbed"))[1].table
        assert trials.num_rows == 2
    finally:
        cluster.shutdown()


def test_submit_to_nowhere_is_bad_input(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: x\nworkloads: [mnist1d-mlp]\noptimizers: [sgd]\nprotocols: [lr-only]\ntrials_per_search: 1\n"
    )
    address = f"http://127.0.0.1:{free_port()}"
    assert main(["submit", str(config), "--address", address, "--results", str(tmp_path / "r")]) == 2
    assert "cannot reach the Ray job server" in capsys.readouterr().err
    assert main(["submit", str(config), "--address", address, "--results", "results"]) == 2
    assert "give an absolute path on the head node or a URI" in capsys.readouterr().err
