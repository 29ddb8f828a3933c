"""The driver's Tune hooks (tuning/driver/tune_callbacks.py) and options (tuning/driver/study_options.py),
driven by hand: no Ray cluster, fake Tune trials."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest

from optcompare.schema import SearchKey
from tests.tuning.fake_tune import FakeTrial
from tuning.driver.progress import StudyProgress
from tuning.driver.ray_env import RayTarget
from tuning.driver.run_study import worker_settings
from tuning.driver.study_options import StudyOptions
from tuning.driver.study_summary import StudySummary
from tuning.plan.resolve import resolve_plan
from tuning.plan.trial import BundleTask, WorkerSettings
from tuning.planners.bundles import TrialBook
from tuning.planners.planners import Planners
from tuning.planners.reruns import RerunPlanner
from tuning.spec.config import parse_config
from tuning.spec.rerun_rules import RerunRule
from tuning.store.sink import ResultSink

RAW = {
    "name": "cb", "workloads": [{"name": "mnist1d-mlp", "steps": 10, "eval_every": 5, "bundle_size": 2}],
    "optimizers": ["sgd"], "protocols": ["lr-only"], "trials_per_search": 3,
    "resources": {"cpus_per_trial": 2, "max_concurrent_trials": 4}, "max_failures": 1,
    "report_every_s": 0.5, "seed": 7,
}


def _summary(value: float) -> dict:
    return {
        "status": "completed", "final_train_loss": 0.1, "final_val_error": value, "final_val_loss": 0.2,
        "final_test_error": value, "final_test_loss": 0.2, "best_val_error": value, "best_val_step": 10,
        "steps_to_target": None, "total_steps": 10, "wall_time_s": 1.0, "train_time_s": 0.5,
    }


@pytest.fixture
def config(tmp_path):
    return parse_config(RAW, "cb.yaml", tmp_path)


def test_options_come_from_the_config_and_the_caller(config):
    options = StudyOptions.from_config(config, ray=RayTarget(address="auto"), progress=False)
    assert (options.cpus_per_trial, options.gpus_per_trial, options.max_concurrent_trials) == (2, 0, 4)
    assert (options.max_failures, options.report_every_s, options.seed) == (1, 0.5, 7)
    assert options.bundle_sizes == {"mnist1d-mlp": 2} and options.reruns == {}
    assert options.ray.joined and not options.progress
    assert worker_settings(options) == WorkerSettings(
        report_every_s=0.5, threads=2, plugins=(), device="cpu", cpus=2, gpus=0
    )
    gpu = StudyOptions(cpus_per_trial=0.5, gpus_per_trial=0.25)
    assert worker_settings(gpu).device is None and worker_settings(gpu).threads == 1
    assert (worker_settings(gpu).cpus, worker_settings(gpu).gpus) == (0.5, 0.25)  # each data-parallel worker's


def test_rerun_rules_of_protocols_that_rerun(tmp_path):
    (tmp_path / "grid.yaml").write_text(
        "name: grid\nschedule: constant\nsearch: grid\nrerun_best: {seeds: 2}\nselect: train_loss\n"
        "optimizers:\n  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0e-1, scaling: log, num: 3}\n"
    )
    config = parse_config({**RAW, "protocols": ["grid.yaml", "lr-only"]}, "cb.yaml", tmp_path)
    assert StudyOptions.from_config(config).reruns == {"grid": RerunRule(2, "train_loss")}


def _driver_parts(config, tmp_path):
    """(plan, sink, summary, callback, searcher) of a study in bundles of 2, one retry each, as
    the driver wires them, without Ray."""
    from tuning.driver.tune_callbacks import PlanSearcher, SinkCallback

    plan = resolve_plan(config)
    book = TrialBook(plan, lambda t: 2, Planners(reruns=RerunPlanner(plan, {}, 0)), max_failures=1)
    sink = ResultSink(str(tmp_path / "r"), trial_flush_seconds=3600, flush_seconds=3600)
    summary = StudySummary(planned=len(plan))
    callback = SinkCallback(book, sink, summary, StudyProgress(len(plan), enabled=False))
    searcher = PlanSearcher(book, WorkerSettings(report_every_s=0), fresh_budget=10)
    return plan, sink, summary, callback, searcher


def test_the_searcher_hands_out_bundles_and_the_callback_records_them(config, tmp_path):
    plan, sink, summary, callback, searcher = _driver_parts(config, tmp_path)

    first = FakeTrial(searcher.suggest("t0"))
    second = FakeTrial(searcher.suggest("t1"))
    assert [m["trial_id"] for m in first.config["members"]] == [plan[0].trial_id, plan[1].trial_id]
    assert first.config["worker"]["report_every_s"] == 0 and len(second.config["members"]) == 1
    # The config is a bundle task as data: the worker reads it back as the same planned trials.
    assert BundleTask.model_validate(first.config).members == plan[:2]
    assert searcher.suggest("t2") is None  # bundles in flight: wait

    for trial in (first, second):
        callback.on_trial_start(0, [], trial)
    assert (summary.running, summary.peak_running) == (2, 2)
    ids = [plan[0].trial_id, plan[1].trial_id]
    curve = [{"trial_id": i, "step": 5, "learning_rate": 0.1, "train_loss": 1.0, "val_error": 0.5,
              "val_loss": 1.0, "test_error": 0.5, "test_loss": 1.0, "wall_time_s": 0.1} for i in ids]
    result = {"curve": curve, "finals": {ids[0]: _summary(0.3), ids[1]: {**_summary(math.nan), "status": "diverged"}}}
    callback.on_trial_result(0, [], first, result)
    assert result == {}  # the payload is consumed: Tune keeps the last result in memory
    callback.on_trial_complete(0, [], first)
    # The second bundle fails in-band, is retried once, then fails for good.
    callback.on_trial_result(0, [], second, {"failure": "RuntimeError: boom"})
    callback.on_trial_error(0, [], second)
    retry = FakeTrial(searcher.suggest("t3"))
    assert [m["trial_id"] for m in retry.config["members"]] == [plan[2].trial_id]
    callback.on_trial_start(0, [], retry)
    callback.on_trial_error(0, [], FakeTrial(retry.config, error="Traceback\nValueError: again"))
    assert searcher.suggest("t4") == "FINISHED"
    sink.close()

    assert (summary.completed, summary.diverged, summary.failed, summary.running) == (1, 1, 1, 0)
    assert summary.failures == [f"{plan[2].trial_id}: ValueError: again"]
    assert summary.train_time_s == 1.0
    (part,) = (tmp_path / "r" / "trials").rglob("*.parquet")
    assert SearchKey("mnist1d-mlp", "lr-only", "sgd").partition_path() in str(part)
    rows = {r["trial_id"]: r for r in pq.read_table(part).to_pylist()}
    assert [rows[i]["status"] for i in (*ids, plan[2].trial_id)] == ["completed", "diverged", "failed"]
    assert rows[plan[2].trial_id]["attempt"] == 1 and rows[plan[2].trial_id]["hp_learning_rate"] > 0
    (curves,) = (tmp_path / "r" / "curves").rglob("*.parquet")
    assert sorted(pq.read_table(curves).column("trial_id").to_pylist()) == sorted(ids)


RAY_MEMORY_KILL = (
    "Task was killed due to the node running low on memory.\n"
    "Memory on the node (IP: 127.0.0.1, ID: 5f1c) was 22.40GB used / 23.54GB limit (0.951522)\n"
    "Refer to the documentation on how to address the out of memory issue: https://docs.ray.io/"
)
"""An OutOfMemoryError's message in Ray 2.60's wording (the raylet's format strings)."""


def test_a_memory_kill_names_the_memory_and_the_remedy():
    from tuning.driver.ray_internals import MEMORY_KILLED
    from tuning.driver.tune_callbacks import memory_kill_message

    assert memory_kill_message(f"{MEMORY_KILLED}: {RAY_MEMORY_KILL}") == (
        "killed by Ray's memory monitor at 22.40 GB of 23.54 GB; lower bundle_size or raise "
        "resources.memory_per_trial"
    )
    assert memory_kill_message(f"{MEMORY_KILLED}: some other wording").startswith("killed by Ray's memory monitor; lower")
    assert memory_kill_message(RAY_MEMORY_KILL) is None  # not through the driver's patch: not told apart
    assert memory_kill_message("ValueError: boom") is None


def test_a_bundle_killed_for_memory_is_retried_smaller_then_fails_saying_why(config, tmp_path, capsys):
    from tuning.driver.ray_internals import MEMORY_KILLED

    plan, sink, summary, callback, searcher = _driver_parts(config, tmp_path)

    def memory_kill(trial, n):
        """The trial as Tune hands it to the callback after the n-th kill: its error file holds
        every failure so far, the memory kill last (``Trial.handle_error``'s format)."""
        path = tmp_path / f"error-{trial.config['bundle_id']}.txt"
        with path.open("a") as out:
            out.write(f"Failure # {n} (occurred at 2026-12-07_10-50-00)\n{MEMORY_KILLED}: {RAY_MEMORY_KILL}\n")
        return FakeTrial(trial.config, error_file=str(path))

    killed = FakeTrial(searcher.suggest("t0"))
    callback.on_trial_start(0, [], killed)
    callback.on_trial_error(0, [], memory_kill(killed, 1))
    ids = [plan[0].trial_id, plan[1].trial_id]
    assert summary.memory_kills == [
        f"{ids[0]}, {ids[1]}: killed by Ray's memory monitor at 22.40 GB of 23.54 GB; lower bundle_size "
        "or raise resources.memory_per_trial; retried in bundles of at most 1 (was 2)"
    ]
    assert f"optcompare: {summary.memory_kills[0]}" in capsys.readouterr().err
    retries = [FakeTrial(searcher.suggest(f"t{n}")) for n in (1, 2)]
    assert [[m["trial_id"] for m in r.config["members"]] for r in retries] == [[ids[0]], [ids[1]]]
    for retry in retries:  # killed again, their last attempt: failed, saying why
        callback.on_trial_start(0, [], retry)
        callback.on_trial_error(0, [], memory_kill(retry, 1))
    sink.close()
    assert summary.failed == 2 and len(summary.memory_kills) == 1
    assert summary.failures[0] == (
        f"{ids[0]}: killed by Ray's memory monitor at 22.40 GB of 23.54 GB; lower bundle_size or raise "
        "resources.memory_per_trial (this attempt ran in a bundle of 1)"
    )
