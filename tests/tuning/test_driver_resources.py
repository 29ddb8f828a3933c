"""Trial slots, concurrency and Ray start-up of the driver (tuning/driver.py), and the run
command's checks that come before anything is written (tuning/cli.py)."""

from __future__ import annotations

import pytest

from optcompare.cli import main
from optcompare.errors import InputError
from tuning.driver import check_capacity, start_ray, trial_slots

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


def test_no_room_is_an_input_error_locally_and_a_notice_on_a_joined_cluster(monkeypatch, capsys):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})  # a GPU-less head
    with pytest.raises(InputError, match=r"cannot fit one trial with 1 CPUs and 0.25 GPUs.*--address"):
        check_capacity(1.0, 0.25, joined=False)
    # An autoscaling cluster adds GPU nodes for queued trials: the study must not refuse to start.
    assert check_capacity(1.0, 0.25, joined=True) == 0
    assert "wait for the autoscaler" in capsys.readouterr().out


def test_num_cpus_below_one_is_refused_before_ray_starts():
    import ray

    assert not ray.is_initialized()
    with pytest.raises(InputError, match="--num-cpus must be at least 1, got 0"):
        start_ray(num_cpus=0)
    assert not ray.is_initialized()


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


def test_unreachable_cluster_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    # "auto" with no Ray running on this machine (RAY_ADDRESS unset): Ray fails at once.
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray instance is running in this process")
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    results = tmp_path / "results"
    code = main(["run", str(config), "--results", str(results), "--address", "auto", "--quiet"])
    if code == 0:
        pytest.skip("a Ray cluster is running on this machine")
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach a Ray cluster at --address 'auto'" in err and "ray start --head" in err
    assert not results.exists()


def test_existing_experiment_is_refused_before_ray_starts(tmp_path, capsys):
    import ray

    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    (tmp_path / "results" / "tiny").mkdir(parents=True)
    assert main(["run", str(config), "--results", str(tmp_path / "results"), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not ray.is_initialized()
