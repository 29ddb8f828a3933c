"""Trial slots, concurrency and Ray start-up of the driver (tuning/driver/capacity.py,
tuning/driver/ray_env.py), and the run command's checks that come before anything is written
(tuning/store/experiment.py, tuning/commands/cli.py)."""

from __future__ import annotations

import time

import pytest

from optcompare.cli import main
from optcompare.errors import ParameterError, with_flags
from tests.ports import free_port
from tuning.commands.cli import FLAGS
from tuning.driver.capacity import UNBOUNDED, check_capacity, study_slots, trial_slots
from tuning.driver.ray_env import REACH_TIMEOUT_S, RayTarget, start_ray
from tuning.store.experiment import ensure_new_experiment, experiment_exists

CONFIG = """name: tiny
workloads:
  - {name: mnist1d-mlp, steps: 20, eval_every: 20}
optimizers: [sgd]
protocols: [lr-only]
trials_per_search: 2
"""


@pytest.mark.parametrize(
    ("cluster", "cpus", "gpus", "expected"),
    [
        ({"CPU": 2.0}, 1.0, 0.0, 2),
        ({"CPU": 2.0}, 0.5, 0.0, 4),
        ({"CPU": 3.0}, 2.0, 0.0, 1),
        ({"CPU": 8.0, "GPU": 1.0}, 1.0, 0.2, 5),  # 1.0 // 0.2 == 4.0 in floats: not used
        ({"CPU": 16.0, "GPU": 1.0}, 1.0, 0.1, 10),  # 1.0 // 0.1 == 9.0
        ({"CPU": 16.0, "GPU": 2.0}, 1.0, 0.25, 8),
        ({"CPU": 2.0, "GPU": 4.0}, 1.0, 0.5, 2),  # CPUs bound it
        ({"CPU": 8.0}, 1.0, 0.25, 0),  # no GPU at all
        ({"CPU": 0.5}, 1.0, 0.0, 0),
    ],
)
def test_trial_slots(cluster, cpus, gpus, expected):
    assert trial_slots(cluster, cpus, gpus) == expected


def test_memory_per_trial_bounds_the_slots_in_bytes():
    gib = 1024**3
    assert trial_slots({"CPU": 8.0, "memory": 10.0 * gib}, 1.0, 0.0, 3.0 * gib) == 3  # memory bounds it
    assert trial_slots({"CPU": 2.0, "memory": 10.0 * gib}, 1.0, 0.0, 3.0 * gib) == 2  # CPUs bound it
    assert trial_slots({"CPU": 2.0}, 1.0, 0.0, 1.0) == 0  # no memory resource at all


def test_a_trial_asking_more_memory_than_the_in_process_ray_has_is_refused(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0, "memory": 4.0 * 1024**3})
    with pytest.raises(ParameterError, match=r"Ray \(2 CPUs, 0 GPUs, 4.0 GiB of memory\) cannot fit one "
                       r"trial with 1 CPUs, 0 GPUs and 6 GiB of memory; lower resources.cpus_per_trial / "
                       r"gpus_per_trial / memory_per_trial"):
        check_capacity(1.0, 0.0, joined=False, memory_per_trial=6.0 * 1024**3)


def test_a_trial_that_asks_for_nothing_has_unbounded_slots():
    assert trial_slots({"CPU": 2.0}, 0.0, 0.0) == UNBOUNDED


@pytest.mark.parametrize(
    ("capacity", "joined", "cap", "expected"),
    [
        (4, False, None, 4),
        (0, False, None, 1),  # at least one: check_capacity refuses a Ray without room first
        (4, False, 2, 2),
        (4, True, None, UNBOUNDED),  # a joined cluster may grow
        (0, True, 3, 3),
    ],
)
def test_study_slots(capacity, joined, cap, expected):
    assert study_slots(capacity, joined=joined, max_concurrent_trials=cap) == expected


def test_no_room_is_an_input_error_locally_and_a_notice_on_a_joined_cluster(monkeypatch, capsys):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})  # a GPU-less head
    with pytest.raises(ParameterError, match=r"cannot fit one trial with 1 CPUs, 0.25 GPUs;") as err:
        check_capacity(1.0, 0.25, joined=False)
    assert "--" not in str(err.value)  # the library names no flag ...
    shown = with_flags(err.value, FLAGS)
    assert shown.endswith("raise --num-cpus (or leave it out: all CPUs), or join a cluster that has them with --address")
    assert "raise num_cpus (or leave it out" in str(err.value)
    # An autoscaling cluster adds GPU nodes for queued trials: the study must not refuse to start.
    assert check_capacity(1.0, 0.25, joined=True) == 0
    assert "wait for the autoscaler" in capsys.readouterr().out


def test_num_cpus_below_one_is_refused_before_ray_starts():
    import ray

    assert not ray.is_initialized()
    with pytest.raises(ParameterError, match="^num_cpus must be at least 1, got 0$") as err:
        start_ray(RayTarget(num_cpus=0))
    assert with_flags(err.value, FLAGS) == "--num-cpus must be at least 1, got 0"
    assert not ray.is_initialized()


def test_experiment_exists_answers_and_ensure_new_experiment_refuses(tmp_path):
    assert experiment_exists(str(tmp_path), "e") is False
    ensure_new_experiment(str(tmp_path), "e")  # nothing there: no error
    (tmp_path / "e").mkdir()
    assert experiment_exists(str(tmp_path), "e") is True
    with pytest.raises(ParameterError, match="already exists; choose another name") as err:
        ensure_new_experiment(str(tmp_path), "e")
    assert "choose another --name" in with_flags(err.value, FLAGS)


@pytest.mark.parametrize("name", ["../escaped", "a/b", ".hidden", "_tune", " padded", "a b", "x?y", "s3:x"])
def test_bad_name_exits_2_and_writes_nothing(tmp_path, capsys, name):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    results = tmp_path / "results"
    assert main(["run", str(config), "--results", str(results), "--name", name, "--quiet"]) == 2
    assert "--name: expected a directory-safe experiment name" in capsys.readouterr().err
    assert not results.exists() and not (tmp_path / "escaped").exists()


def test_num_cpus_zero_exits_2_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    results = tmp_path / "results"
    assert main(["run", str(config), "--results", str(results), "--num-cpus", "0", "--quiet"]) == 2
    assert "--num-cpus must be at least 1" in capsys.readouterr().err
    assert not results.exists()


def test_unreachable_cluster_exits_2_at_once_and_writes_nothing(tmp_path, capsys, own_ray):
    # A port where nothing listens (never "auto": that would join whatever Ray runs on this
    # machine, such as a user's study). Refused at once, not after Ray's minutes of retries.
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    results = tmp_path / "results"
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    code = main(["run", str(config), "--results", str(results), "--address", address, "--quiet"])
    assert code == 2 and time.monotonic() - started < REACH_TIMEOUT_S
    err = capsys.readouterr().err
    assert f"cannot reach a Ray cluster at --address '{address}'" in err and "ray start --head" in err
    assert not results.exists()


def test_auto_with_no_cluster_found_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    # What Ray raises when "auto" finds no running instance, without asking the machine (on which
    # a user's Ray may run).
    import ray

    def no_cluster(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to")

    monkeypatch.setattr(ray, "init", no_cluster)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    results = tmp_path / "results"
    assert main(["run", str(config), "--results", str(results), "--address", "auto", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach a Ray cluster at --address 'auto' (Could not find any running Ray instance" in err
    assert "ray start --head" in err and not results.exists()


def test_existing_experiment_is_refused_before_ray_starts(tmp_path, capsys):
    import ray

    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    (tmp_path / "results" / "tiny").mkdir(parents=True)
    assert main(["run", str(config), "--results", str(tmp_path / "results"), "--quiet"]) == 2
    assert "already exists; choose another --name" in capsys.readouterr().err
    assert not ray.is_initialized()


def test_submit_refuses_a_relative_results_root_before_contacting_a_cluster(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    code = main(["submit", str(config), "--address", "http://127.0.0.1:1", "--results", "rel/results"])
    assert code == 2
    assert "--results 'rel/results': give an absolute path on the head node" in capsys.readouterr().err


class _AgentLate:
    """A job client whose cluster's job agent is up only from the third request on."""

    def __init__(self, fail: str = "Request failed with status code 500: No available agent to submit job, please try again later.") -> None:
        self.fail = fail
        self.calls = 0

    def submit_job(self, **kwargs):
        self.calls += 1
        if self.calls < 3:
            raise RuntimeError(self.fail)
        return "raysubmit_1"


def test_submit_waits_for_the_job_agent_of_a_cluster_that_just_started(tmp_path, monkeypatch):
    import tuning.commands.submit as submit

    monkeypatch.setattr(submit.time, "sleep", lambda s: None)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    late = _AgentLate()
    monkeypatch.setattr(submit, "_client", lambda address: late)
    job_id, client = submit.submit_study(str(config), "http://127.0.0.1:8265", results="/abs/results")
    assert (job_id, client, late.calls) == ("raysubmit_1", late, 3)
    # Any other error is not retried.
    other = _AgentLate("Request failed with status code 500: bad runtime_env")
    monkeypatch.setattr(submit, "_client", lambda address: other)
    with pytest.raises(RuntimeError, match="bad runtime_env"):
        submit.submit_study(str(config), "http://127.0.0.1:8265", results="/abs/results")
    assert other.calls == 1


def test_a_bundle_reserves_its_members_memory():
    from tuning.driver.run_study import trial_resources
    from tuning.driver.study_options import StudyOptions

    member = {"trial_id": "w/p/o/00000", "workers": 1}
    resources = trial_resources(StudyOptions(cpus_per_trial=1.0, memory_per_trial=2.0))
    (bundle,) = resources({"members": [member] * 3}).bundles
    assert bundle == {"CPU": 1.0, "memory": 3 * 2.0 * 1024**3}
    (alone,) = resources({"members": [member]}).bundles
    assert alone["memory"] == 2.0 * 1024**3
    (plain,) = trial_resources(StudyOptions())({"members": [member] * 3}).bundles
    assert "memory" not in plain


def test_a_bundle_is_no_larger_than_the_largest_node_s_memory_holds(monkeypatch):
    import ray

    from tuning.driver.capacity import members_per_node

    gib = 1024**3
    nodes = [{"Alive": True, "Resources": {"memory": 10.0 * gib}}, {"Alive": True, "Resources": {"memory": 40.0 * gib}},
             {"Alive": False, "Resources": {"memory": 400.0 * gib}}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    assert members_per_node(4.0 * gib) == 10  # the largest live node: 40 GiB / 4 GiB
    assert members_per_node(64.0 * gib) == 1  # not even one fits: check_capacity says so first
