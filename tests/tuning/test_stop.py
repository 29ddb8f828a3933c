"""Stopping a study (tuning/driver/signals.py) and ending hung bundles (tuning/driver/tune_callbacks.py), by
hand: fake clocks, fake Tune trials, a real signal to this process with a bound far out."""

from __future__ import annotations

import os
import signal

import pyarrow.parquet as pq
import pytest

from tests.tuning.fake_tune import FakeTrial
from tuning.driver.progress import StudyProgress
from tuning.driver.signals import StopRequest, StopSignals, exit_status
from tuning.driver.study_summary import StudySummary
from tuning.plan.resolve import resolve_plan
from tuning.plan.trial import WorkerSettings
from tuning.planners.bundles import TrialBook
from tuning.planners.planners import Planners
from tuning.planners.reruns import RerunPlanner
from tuning.spec.config import parse_config
from tuning.store.sink import ResultSink

RAW = {
    "name": "stop", "workloads": [{"name": "mnist1d-mlp", "steps": 10, "eval_every": 5, "trial_time_limit_s": 60}],
    "optimizers": ["sgd"], "protocols": ["lr-only"], "trials_per_search": 3, "max_failures": 2, "seed": 7,
}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hooks(tmp_path):
    """(plan, book, summary, callback, searcher, stop, clock, results dir)."""
    from tuning.driver.tune_callbacks import PlanSearcher, SinkCallback

    plan = resolve_plan(parse_config(RAW, "stop.yaml", tmp_path))
    book = TrialBook(plan, lambda t: 1, Planners(reruns=RerunPlanner(plan, {}, 0)), max_failures=2)
    sink = ResultSink(str(tmp_path / "r"), trial_flush_seconds=0, flush_seconds=0)
    summary = StudySummary(planned=len(plan))
    clock = Clock()
    stop = StopRequest(clock)
    callback = SinkCallback(book, sink, summary, StudyProgress(len(plan), enabled=False), stop=stop, clock=clock)
    searcher = PlanSearcher(book, WorkerSettings(report_every_s=0), fresh_budget=10, stop=stop)
    return plan, book, summary, callback, searcher, stop, clock, tmp_path / "r"


def _rows(results):
    return [r for part in results.rglob("part-*.parquet") for r in pq.read_table(part).to_pylist()]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_exit_status_is_128_plus_the_signal(signum, status):
    assert exit_status(signum) == status


def test_the_first_request_wins_and_the_grace_runs_from_it():
    clock = Clock()
    stop = StopRequest(clock)
    assert not stop.requested and not stop.grace_over(10)
    clock.now = 5.0
    assert stop.request("stopped by SIGINT", 130) and not stop.request("later", 1)
    assert (stop.reason, stop.status) == ("stopped by SIGINT", 130)
    clock.now = 14.0
    assert not stop.grace_over(10)
    clock.now = 15.0
    assert stop.grace_over(10)
    err = stop.interrupted("summary")
    assert (err.status, err.reason, err.summary) == (130, "stopped by SIGINT", "summary")


def test_a_real_sigint_sets_the_request_and_the_handlers_come_back(capsys):
    before = signal.getsignal(signal.SIGINT)
    signals = StopSignals(bound_s=3600)
    try:
        with signals:
            os.kill(os.getpid(), signal.SIGINT)
            assert signals.stop.requested and signals.stop.status == 130
        assert signal.getsignal(signal.SIGINT) is before
        assert "SIGINT received: no more trials start" in capsys.readouterr().err
    finally:
        if signals._timer is not None:
            signals._timer.cancel()  # the bound would end this process


def test_a_stop_ends_handing_out_and_leaves_stopped_bundles_unrecorded(hooks):
    from tuning.driver.tune_callbacks import StopRequested

    plan, book, summary, callback, searcher, stop, clock, results = hooks
    first, second = FakeTrial(searcher.suggest("a")), FakeTrial(searcher.suggest("b"))
    for trial in (first, second):
        callback.on_trial_start(0, [], trial)
    stopper = StopRequested(stop, book, grace_s=10)
    assert not stopper.stop_all()
    stop.request("stopped by SIGTERM", 143)
    assert searcher.suggest("c") == "FINISHED"
    assert not stopper.stop_all()  # bundles still running: their grace to report
    clock.now = 10.0
    assert stopper.stop_all()  # the grace is over
    # Tune stops them: neither ended nor errored members are recorded as failed.
    callback.on_trial_complete(0, [], first)
    callback.on_trial_error(0, [], FakeTrial(second.config, error="stopped"))
    callback.sink.close()
    assert _rows(results) == [] and summary.failed == 0 and not book.in_flight
    assert not book.done  # resume runs them


def test_a_bundle_past_its_time_limit_is_ended_recorded_once_and_named(hooks, monkeypatch):
    from tuning.driver.tune_callbacks import hung_after_s

    plan, book, summary, callback, searcher, stop, clock, results = hooks
    killed = []
    monkeypatch.setattr("ray.kill", lambda actor, no_restart=True: killed.append(actor))
    trial = FakeTrial(searcher.suggest("a"))
    trial.temporary_state = type("State", (), {"ray_actor": "actor-a"})()
    callback.on_trial_start(0, [], trial)
    assert hung_after_s(60) == 90.0 and hung_after_s(600) == 900.0
    clock.now = 89.0
    callback.on_step_end(0, [])
    assert killed == []
    clock.now = 90.5
    callback.on_step_end(0, [])
    assert killed == ["actor-a"]
    callback.on_trial_error(0, [], FakeTrial(trial.config, error="RayActorError: the actor died"))
    callback.sink.close()
    (row,) = _rows(results / "trials")
    assert row["status"] == "failed" and row["attempt"] == 0  # not retried
    assert row["error"] == (
        "hung: held its slot 90 s, past its time limit of 60 s; ended by the driver, not retried"
    )
    assert not book.retry and summary.hung == [f"{plan[0].trial_id}: {row['error']}"]
    assert f"1 hung or out of time: {plan[0].trial_id}" in summary.line()


def test_stalled_attempts_are_named_even_when_a_retry_finishes(hooks):
    plan, book, summary, callback, searcher, stop, clock, results = hooks
    trial = FakeTrial(searcher.suggest("a"))
    callback.on_trial_start(0, [], trial)
    callback.on_trial_result(0, [], trial, {"failure": "stalled: no training step for 700 s (stall timeout 600 s) after step 4; the trial was killed and is retried"})
    callback.on_trial_error(0, [], trial)
    assert [t.trial_id for t in book.retry] == [plan[0].trial_id]  # a stall is retried
    assert summary.hung == [f"{plan[0].trial_id}: stalled: no training step for 700 s (stall timeout 600 s) after step 4; the trial was killed and is retried"]
    assert summary.hung_lines() == [f"  hung or out of time: {summary.hung[0]}"]
