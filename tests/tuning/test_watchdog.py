"""The worker's watchdog (tuning/worker/watchdog.py) and the training loop's time limit
(workloads/run.py): when each fires, what it says, and that healthy trials are left alone."""

from __future__ import annotations

import threading
import time

import pytest

import workloads
from tuning.worker.watchdog import STALL_FLOOR_S, STALL_INTERVALS, Watchdog, stall_message


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_watchdog_fires_once_after_the_timeout_of_silence():
    clock, fired = FakeClock(), []
    dog = Watchdog(fired.append, 30.0, clock=clock)
    assert not dog.check()  # no beat yet: loading data does not count
    dog.beat(7)
    clock.now += 29.9
    assert not dog.check() and fired == []
    dog.beat(8)  # a step resets the silence
    clock.now += 29.9
    assert not dog.check()
    clock.now += 0.2
    assert dog.check()
    assert fired == [stall_message(30.1, 30.0, 8)]
    assert fired[0].startswith("stalled: no training step for 30 s (stall timeout 30 s) after step 8")
    clock.now += 100
    assert not dog.check() and len(fired) == 1


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [((), STALL_FLOOR_S), ((5.0, 12.0), STALL_FLOOR_S), ((61.0, 75.0, 70.0), STALL_INTERVALS * 75.0)],
)
def test_the_default_timeout_is_ten_evaluation_intervals_and_at_least_the_floor(intervals, expected):
    dog = Watchdog(lambda m: None)
    for seconds in intervals:
        dog.evaluation_interval(seconds)
    assert dog.timeout_s == expected
    assert Watchdog(lambda m: None, 42.0).timeout_s == 42.0  # stall_timeout_s wins


def test_the_watchdog_thread_calls_on_stall_while_the_loop_is_stuck():
    fired = threading.Event()
    messages = []

    def on_stall(message: str) -> None:
        messages.append(message)
        fired.set()

    with Watchdog(on_stall, 0.2, poll_s=0.02) as dog:
        dog.beat(3)
        assert fired.wait(5.0)
    assert messages and "after step 3" in messages[0]


def test_a_beating_loop_is_never_stalled():
    messages = []
    with Watchdog(messages.append, 0.3, poll_s=0.02) as dog:
        for step in range(40):
            dog.beat(step)
            time.sleep(0.01)
    assert messages == []


def _mlp():
    return workloads.get("mnist1d-mlp")


def test_a_trial_past_its_time_limit_stops_as_failed_with_the_reason():
    beats = []
    outcome = workloads.train(
        _mlp(), "sgd", {"learning_rate": 0.1, "weight_decay": 0.0}, "constant", {}, 0, steps=50, eval_every=5,
        time_limit_s=1e-6, heartbeat=beats.append,
    )
    # The limit is checked after each step: the first step already ran past 1 microsecond.
    assert (outcome.status, outcome.total_steps) == ("failed", 1)
    assert outcome.error == "time limit of 1e-06 s reached at step 1"
    assert outcome.rows == [] and beats == [1]
    summary = outcome.summary()
    assert summary["status"] == "failed" and summary["error"] == outcome.error


def test_a_bundle_past_its_time_limit_stops_every_unfinished_member():
    from workloads.bundle import BundleMember, train_bundle

    members = [BundleMember({"learning_rate": lr, "weight_decay": 0.0}, {}, seed) for seed, lr in enumerate((0.1, 0.05))]
    outcomes = train_bundle(_mlp(), "sgd", members, "constant", steps=50, eval_every=2, time_limit_s=1e-6)
    assert [(o.status, o.total_steps, o.error) for o in outcomes] == [
        ("failed", 1, "time limit of 1e-06 s reached at step 1")
    ] * 2


def test_a_generous_time_limit_changes_nothing():
    hparams = {"learning_rate": 0.1, "weight_decay": 0.0}
    plain = workloads.train(_mlp(), "sgd", hparams, "constant", {}, 0, steps=20, eval_every=10)
    limited = workloads.train(_mlp(), "sgd", hparams, "constant", {}, 0, steps=20, eval_every=10, time_limit_s=3600)
    assert limited.status == "completed" and limited.error is None
    assert [r.val_error for r in limited.rows] == [r.val_error for r in plain.rows]
