"""experiment.json and the results root (issue 16, probes 6 and 7): nothing half-created, a
wrong-shaped experiment.json is exit 2 naming the field, an unwritable results root is exit 2
before Ray starts, and resume says what it could not read and which rows were written twice.

Before: a failed experiment.json write left an empty directory (``run`` then said it exists,
``resume`` that it is not an experiment); valid JSON of the wrong shape gave rc 1 with an
AttributeError; resume skipped corrupt part files without a word; a read-only results root
failed after Ray had started."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path

import pytest

import tuning.store.experiment as experiment_module
from optcompare.cli import main
from optcompare.errors import InputError
from tests.tmpfs import remount_read_only, tmpfs
from tests.tuning.file_texts import config_text
from tests.tuning.result_rows import write_rows
from tuning.commands.resume import load_resume_state
from tuning.plan.resolve import resolve_plan
from tuning.spec.config import load_config
from tuning.store.experiment import (
    TUNE_STORE,
    check_checkpoint_store,
    check_results_root,
    create_experiment,
)


def _config(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text(config_text(workloads="workloads: [{name: mnist1d-mlp, steps: 10, eval_every: 10}]"))
    config = load_config(path)
    return path, config, resolve_plan(config)


@pytest.fixture
def finished(tmp_path):
    """An experiment whose 8 planned trials all have a trials row."""
    _, config, plan = _config(tmp_path)
    experiment = create_experiment(str(tmp_path / "r"), config.name, config, plan)
    write_rows(experiment, plan, ["completed"] * len(plan), [0.1 * (i + 1) for i in range(len(plan))])
    return Path(experiment), plan


# --- nothing half-created -------------------------------------------------------------------

def test_a_failed_experiment_json_write_leaves_no_directory(tmp_path, monkeypatch):
    _, config, plan = _config(tmp_path)
    real = experiment_module.write_json_atomic

    def disk_full(filesystem, path, payload):  # noqa: ANN001
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # what a real write creates first
        Path(path).with_name(".experiment.json.tmp").write_bytes(b'{"name": ')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(experiment_module, "write_json_atomic", disk_full)
    with pytest.raises(InputError, match=r"r/exp/experiment.json cannot be written \(\[Errno 28\] No space left"):
        create_experiment(str(tmp_path / "r"), config.name, config, plan)
    assert list((tmp_path / "r").iterdir()) == []
    monkeypatch.setattr(experiment_module, "write_json_atomic", real)
    assert Path(create_experiment(str(tmp_path / "r"), config.name, config, plan)).is_dir()  # the name is free


def test_a_directory_without_experiment_json_is_not_offered_to_resume(tmp_path, capsys):
    path, _, _ = _config(tmp_path)
    (tmp_path / "r" / "exp").mkdir(parents=True)
    code = main(["run", str(path), "--results", str(tmp_path / "r"), "--num-cpus", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "already exists" in err and "not an experiment that can be resumed (no experiment.json)" in err
    assert "optcompare resume" not in err


def test_an_unwritable_results_root_is_exit_2_before_ray_starts(tmp_path, capsys, monkeypatch):
    import tuning.driver.ray_env

    def no_ray(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("Ray started")

    monkeypatch.setattr(tuning.driver.ray_env, "start_ray", no_ray)
    path, _, _ = _config(tmp_path)
    (tmp_path / "file").write_text("a file where a directory of the results root should be")
    results = tmp_path / "file" / "results"
    code = main(["run", str(path), "--results", str(results), "--num-cpus", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"the results root {results} cannot be written" in err
    assert not results.exists()


def test_check_results_root_creates_nothing_and_leaves_no_probe(tmp_path):
    check_results_root(str(tmp_path / "new" / "results"), "exp")  # probed in its nearest parent
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "results").mkdir()
    check_results_root(str(tmp_path / "results"), "exp")
    assert list((tmp_path / "results").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_resume_on_a_read_only_mount_is_exit_2_before_ray_starts(tmp_path, capsys, monkeypatch, finished):
    """Probe 4 of the reliability issue: before, resume exited 1 with a raw OSError of the
    lease's temporary file."""
    import tuning.driver.ray_env

    def no_ray(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("Ray started")

    monkeypatch.setattr(tuning.driver.ray_env, "start_ray", no_ray)
    experiment, _ = finished
    with tmpfs(tmp_path / "mount", "16m") as disk:
        copy = disk / experiment.name
        shutil.copytree(experiment, copy)
        before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
        remount_read_only(disk)
        code = main(["resume", str(copy), "--num-cpus", "1", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"{copy}: cannot write the lease {copy}/.lease" in err and "Read-only file system" in err
        assert "give one this user can write to" in err and "Traceback" not in err
        assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_checkpoint_store_refused_for_a_full_disk_leaves_no_probe_file(tmp_path, finished):
    experiment, _ = finished
    with tmpfs(tmp_path / "mount", "1m") as disk:
        copy = disk / experiment.name
        shutil.copytree(experiment, copy)
        (copy / TUNE_STORE).mkdir(exist_ok=True)
        before = sorted((copy / TUNE_STORE).iterdir())
        with contextlib.suppress(OSError), (disk / "filler").open("wb") as filler:
            while True:  # fill the disk, a page at a time, until the kernel refuses
                filler.write(b"\0" * 4096)
                filler.flush()
        with pytest.raises(InputError, match="cannot be written"):
            check_checkpoint_store(str(copy))
        assert sorted((copy / TUNE_STORE).iterdir()) == before  # the probe file is gone


def test_an_unwritable_results_root_on_s3_is_input_error(s3_results):
    import boto3

    bucket = s3_results.split("/")[2]
    boto3.client("s3").delete_bucket(Bucket=bucket)
    with pytest.raises(InputError, match="cannot be written"):
        check_results_root(s3_results, "exp")


def test_resume_of_results_without_experiment_json_says_how_to_recover(finished, capsys):
    experiment, _ = finished
    (experiment / "experiment.json").unlink()
    code = main(["resume", str(experiment), "--num-cpus", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "holds results (2 trials, 0 curves part files) but no experiment.json" in err
    assert "put back experiment.json" in err and "move the directory aside" in err


def test_resume_of_broken_experiment_json_says_how_to_recover(finished, capsys):
    experiment, _ = finished
    (experiment / "experiment.json").write_text('{"name": "exp", "config": ')
    code = main(["resume", str(experiment), "--num-cpus", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "experiment.json is not valid JSON" in err and "put back experiment.json" in err


# --- experiment.json of the wrong shape: exit 2 naming the field ------------------------------
# Every reader refuses it the same way (one rule: analysis.load.open_experiment).

WRONG_SHAPES = {
    "config a list": ({"config": []}, "experiment.json: config: input should be a valid dictionary, got []"),
    "workloads a number": ({"workloads": 3}, "experiment.json: workloads: input should be a valid list, got 3"),
    "a workload without a name": ({"workloads": [{"steps": 1}]}, "experiment.json: workloads[0]: missing required key 'name'"),
    "refined a mapping": ({"refined": {"a": 1}}, "experiment.json: refined: input should be a valid list"),
    "protocol entry a number": ({"protocol_entries": {"lr-only": 3}}, "experiment.json: protocol_entries.lr-only: input should be a valid dictionary"),
    "versions of numbers": ({"versions": {"optcompare": 3}}, "experiment.json: versions.optcompare: input should be a valid string, got 3"),
    "studies a string": ({"studies": "2"}, "experiment.json: studies: input should be a valid integer, got '2'"),
    "select of numbers": ({"select": {"lr-only": 1}}, "experiment.json: select.lr-only: input should be a valid string"),
}


READERS = {
    "resume": ["--num-cpus", "1", "--quiet"], "rank": [], "report": ["--out", "{dir}/report"],
    "query": ["select count(*) from trials"], "summary": [],
}


@pytest.mark.parametrize("command", sorted(READERS))
def test_every_reader_refuses_invalid_experiment_json_with_exit_2_and_the_recovery(finished, capsys, command):
    experiment, _ = finished
    (experiment / "experiment.json").write_text('{"name": "exp", "config": ')
    args = [a.format(dir=experiment.parent) for a in READERS[command]]
    code = main([command, str(experiment), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{experiment}/experiment.json is not valid JSON" in err
    assert "put back experiment.json" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["resume", "rank", "report", "query"])
@pytest.mark.parametrize("case", sorted(WRONG_SHAPES))
def test_wrong_shaped_experiment_json_is_exit_2_naming_the_field(finished, capsys, case, command):
    experiment, _ = finished
    change, fragment = WRONG_SHAPES[case]
    record = json.loads((experiment / "experiment.json").read_text())
    (experiment / "experiment.json").write_text(json.dumps({**record, **change}))
    args = [a.format(dir=experiment.parent) for a in READERS[command]]
    code = main([command, str(experiment), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err and "not the shape optcompare writes" in err
    assert "Traceback" not in err and "AttributeError" not in err


def test_a_wrong_shaped_record_is_refused_when_refinements_are_recorded(finished):
    experiment, _ = finished
    (experiment / "experiment.json").write_text(json.dumps(["not", "an", "object"]))
    with pytest.raises(InputError, match="must hold a JSON object, got list"):
        experiment_module.record_refined(str(experiment), [{"x": 1}])


# --- resume reports what it could not read ----------------------------------------------------

def test_resume_names_corrupt_part_files_and_runs_their_trials_again(finished, capsys):
    experiment, plan = finished
    parts = sorted((experiment / "trials").rglob("part-*.parquet"))
    parts[0].write_bytes(parts[0].read_bytes()[:40])
    state = load_resume_state(str(experiment))
    err = capsys.readouterr().err
    assert f"warning: skipped unreadable file {parts[0]}" in err and "run again" in err
    assert len(state.skipped) == 1 and str(parts[0]) in state.skipped[0]
    assert len(state.pending) == 4 and state.finished == 4  # one search's 4 rows were in that file


def test_resume_reports_rows_written_twice_and_counts_each_trial_once(finished, capsys):
    experiment, plan = finished
    part = sorted((experiment / "trials").rglob("part-*.parquet"))[0]
    shutil.copy(part, part.with_name("part-99991231T235959-again.parquet"))
    state = load_resume_state(str(experiment))
    err = capsys.readouterr().err
    assert state.repeated == {"trials": 4, "curves": 0}
    assert "4 trials rows repeat a trial attempt already read" in err
    assert state.finished == len(plan) and state.pending == []
