"""TrialBook: bundles formed from the plan, retries and failures counted per planned trial."""

from __future__ import annotations

import pytest

from tuning.driver.bundle_probe import bundle_size_function, choose_size, resolve_bundle_sizes
from tuning.plan.resolve import resolve_plan
from tuning.planners.bundles import TrialBook, count_bundles
from tuning.planners.planners import Planners
from tuning.planners.reruns import RerunPlanner
from tuning.spec.config import parse_config
from tuning.spec.plugins import load_plugins


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    raw = {
        "name": "b", "workloads": [{"name": "mnist1d-mlp", "steps": 10, "eval_every": 5}],
        "optimizers": ["sgd", "adam"], "protocols": ["lr-only"], "trials_per_search": 5,
    }
    return resolve_plan(parse_config(raw, "b.yaml", tmp_path_factory.mktemp("cfg")))


def _book(plan, size=3, max_failures=1, offsets=None, reruns=None):
    planners = Planners(reruns=reruns or RerunPlanner(plan, {}, 0))
    return TrialBook(plan, lambda t: size, planners, max_failures=max_failures, attempt_offsets=offsets)


def test_bundles_take_consecutive_trials_of_one_search_up_to_the_size(plan):
    book = _book(plan)
    bundles = []
    while (bundle := book.next_bundle()) is not None:
        bundles.append([m.trial_id.split("/", 2)[2] for m in bundle.members])
    assert bundles == [
        ["sgd/00000", "sgd/00001", "sgd/00002"], ["sgd/00003", "sgd/00004"],
        ["adam/00000", "adam/00001", "adam/00002"], ["adam/00003", "adam/00004"],
    ]
    assert count_bundles(plan, lambda t: 3) == 4
    assert count_bundles(plan, lambda t: 1) == 10
    assert len(book.in_flight) == 4 and book.has_work()


def test_fresh_budget_caps_plan_trials_but_not_retries(plan):
    book = _book(plan)
    first = book.next_bundle(fresh_allowed=2)
    assert len(first.members) == 2 and first.fresh == 2
    assert book.next_bundle(fresh_allowed=0) is None
    book.mark_finished(first.members[0].trial_id)
    assert book.bundle_failed(first.bundle_id) == []  # attempts left: requeued
    retry = book.next_bundle(fresh_allowed=0)
    assert [m.trial_id for m in retry.members] == [first.members[1].trial_id]
    assert retry.attempts == (1,) and retry.fresh == 0


def test_failed_members_are_retried_then_recorded_as_failed_per_trial(plan):
    # plan[1] ran once before (resume): its attempt numbers continue, its retry budget is fresh.
    book = _book(plan, max_failures=2, offsets={plan[1].trial_id: 1})
    bundle = book.next_bundle()
    assert bundle.attempts == (0, 1, 0)
    book.mark_finished(bundle.members[2].trial_id)  # finished (e.g. diverged) before the crash
    assert book.bundle_failed(bundle.bundle_id) == []  # both unfinished members retry
    retry = book.next_bundle()  # the first retry is bundled again
    assert [m.trial_id for m in retry.members] == [plan[0].trial_id, plan[1].trial_id]
    assert retry.attempts == (1, 2)
    assert book.bundle_failed(retry.bundle_id) == []
    # The last attempt of each runs alone: one poisoned member cannot fail the other.
    last = [book.next_bundle(), book.next_bundle()]
    assert [[m.trial_id for m in b.members] for b in last] == [[plan[0].trial_id], [plan[1].trial_id]]
    assert [b.attempts for b in last] == [(2,), (3,)]
    book.mark_finished(plan[1].trial_id)  # the healthy one completes alone
    assert book.bundle_ended(last[1].bundle_id) == []
    assert book.bundle_failed(last[0].bundle_id) == [plan[0]]  # third failure this run: failed
    assert book.bundle_failed(last[0].bundle_id) == []  # a second report of the same failure
    assert book.mark_finished(plan[2].trial_id) is False  # already done: not recorded twice
    assert book.attempt(plan[0].trial_id) == 2 and book.attempt(plan[1].trial_id) == 3


def test_with_one_retry_the_retry_runs_alone_and_singles_never_split(plan):
    book = _book(plan, max_failures=1)
    bundle = book.next_bundle()
    assert book.bundle_failed(bundle.bundle_id) == []
    singles = [book.next_bundle() for _ in range(3)]
    assert [len(b.members) for b in singles] == [1, 1, 1]
    assert [b.members[0].trial_id for b in singles] == [m.trial_id for m in bundle.members]
    # Plan trials after them still bundle.
    assert len(book.next_bundle().members) == 2


def test_a_bundle_killed_for_memory_is_retried_at_half_its_size_down_to_one(plan):
    book = _book(plan, size=3, max_failures=3)
    bundle = book.next_bundle()
    assert len(bundle.members) == 3
    assert book.bundle_failed(bundle.bundle_id, shrink=True) == []
    assert book.retry_size(bundle.members[0]) == 1  # 3 // 2
    halves = [book.next_bundle() for _ in range(3)]
    assert [[m.trial_id for m in b.members] for b in halves] == [[m.trial_id] for m in bundle.members]
    assert [b.attempts for b in halves] == [(1,), (1,), (1,)]
    # The plan's other trials keep theirs: the search's last two, bundled as planned.
    assert len(book.next_bundle().members) == 2


def test_halving_is_by_the_killed_bundle_s_size_and_only_shrinks(plan):
    book = _book(plan, size=4, max_failures=9)  # many retries: no attempt is a last one here
    bundle = book.next_bundle()
    assert len(bundle.members) == 4
    book.bundle_failed(bundle.bundle_id, shrink=True)
    first, second = book.next_bundle(), book.next_bundle()
    assert [len(first.members), len(second.members)] == [2, 2]
    book.bundle_failed(first.bundle_id)  # an ordinary failure keeps the cap
    again = book.next_bundle()
    assert [m.trial_id for m in again.members] == [m.trial_id for m in first.members]
    book.bundle_failed(again.bundle_id, shrink=True)
    assert [len(book.next_bundle().members) for _ in range(2)] == [1, 1]


def test_a_capped_trial_does_not_join_a_larger_bundle_of_uncapped_retries(tmp_path):
    """Found in review: the cap held only for a bundle's first member. t1..t3 retry uncapped
    after an ordinary failure, t4..t7 capped at 2 after a memory kill: t4 must not make a 4th."""
    raw = {
        "name": "b", "workloads": [{"name": "mnist1d-mlp", "steps": 10, "eval_every": 5}],
        "optimizers": ["sgd"], "protocols": ["lr-only"], "trials_per_search": 8,
    }
    trials = resolve_plan(parse_config(raw, "b.yaml", tmp_path))
    book = _book(trials, size=4, max_failures=5)
    first, second = book.next_bundle(), book.next_bundle()
    book.mark_finished(first.members[0].trial_id)
    book.bundle_failed(first.bundle_id)  # t1..t3 requeued without a cap
    book.bundle_failed(second.bundle_id, shrink=True)  # t4..t7 capped at 2
    sizes = []
    while (bundle := book.next_bundle()) is not None:
        sizes.append([m.trial_index for m in bundle.members])
    assert sizes == [[1, 2, 3], [4, 5], [6, 7]]


def test_a_bundle_that_ends_without_some_final_row_gives_those_members_back(plan):
    book = _book(plan)
    bundle = book.next_bundle()
    book.mark_finished(bundle.members[0].trial_id)
    assert book.bundle_ended(bundle.bundle_id) == list(bundle.members[1:])
    assert book.member(bundle.bundle_id, bundle.members[0].trial_id) is None  # no longer in flight


def test_reruns_are_bundled_after_the_plan(plan):
    reruns = RerunPlanner(plan, {"lr-only": (3, "val_error")}, 0)
    book = _book(plan, size=5, reruns=reruns)
    for _ in range(2):
        book.next_bundle()
    for trial in plan[:5]:
        reruns.record(trial, {"status": "completed", "final_val_error": 0.5 - 0.01 * trial.trial_index})
    bundle = book.next_bundle()
    assert [m.phase for m in bundle.members] == ["rerun"] * 3
    assert {m.trial_index for m in bundle.members} == {5, 6, 7}
    assert len({m.seed for m in bundle.members}) == 3


def test_sizes_fall_back_to_one_for_unbundlable_searches_and_are_capped(plan, user_plugin):
    load_plugins([user_plugin])
    size_of = bundle_size_function({"mnist1d-mlp": 4})
    assert size_of(plan[0]) == 4
    assert size_of(plan[0].model_copy(update={"optimizer": "plain-adagrad"})) == 1
    assert size_of(plan[0].model_copy(update={"workload": "tinytext-lstm"})) == 1
    # 10 trials over 4 slots: at most ceil(10/4) = 3 per bundle; searches of 5 trials.
    assert resolve_bundle_sizes({"mnist1d-mlp": 64}, plan, cpus_per_trial=1, gpus_per_trial=0, slots=4) == {
        "mnist1d-mlp": 3
    }
    assert resolve_bundle_sizes({"mnist1d-mlp": 64}, plan, cpus_per_trial=1, gpus_per_trial=0, slots=1) == {
        "mnist1d-mlp": 5
    }


def test_auto_chooses_the_fastest_size_that_fits_and_clearly_beats_one():
    measured = {
        1: {"trial_steps_per_s": 100.0, "peak_bytes": 1.0},
        8: {"trial_steps_per_s": 105.0, "peak_bytes": 10.0},  # within MIN_GAIN of size 1
        32: {"trial_steps_per_s": 150.0, "peak_bytes": 40.0},
        128: {"trial_steps_per_s": 190.0, "peak_bytes": 400.0},
    }
    assert choose_size(measured, memory_limit=1e9) == 128
    assert choose_size(measured, memory_limit=100.0) == 32  # 128 does not fit
    assert choose_size({1: measured[1], 8: measured[8]}, memory_limit=1e9) == 1


def test_the_probe_measures_each_size_without_evaluating(plan):
    from tuning.driver.bundle_probe import probe_throughput

    search = [t for t in plan if t.optimizer == "adam"]
    measured = probe_throughput(search, [1, 2, 4], threads=1, steps=4)
    assert set(measured) <= {1, 2, 4} and 1 in measured and 2 in measured
    for result in measured.values():
        assert result["trial_steps_per_s"] > 0 and result["peak_bytes"] >= 0 and result["device_bytes"] == 0


def test_train_bundle_can_skip_evaluation():
    import workloads
    from workloads.bundle import BundleMember, train_bundle

    members = [BundleMember({"learning_rate": 1e-3}, {}, i) for i in range(2)]
    outcomes = train_bundle(workloads.get("mnist1d-mlp"), "adam", members, "constant", steps=5, evaluate=False)
    assert [o.rows for o in outcomes] == [[], []] and [o.total_steps for o in outcomes] == [5, 5]


def test_retries_bundle_by_checkpoint_and_a_shared_checkpoint_is_released_by_its_last_member(plan):
    book = _book(plan, size=3, max_failures=2)
    bundle = book.next_bundle()
    first, second, third = (m.trial_id for m in bundle.members)
    book.checkpointed(second, 40, "/store/a/checkpoint_000000")
    book.checkpointed(third, 40, "/store/a/checkpoint_000000")
    replaced = book.checkpointed(second, 80, "/store/a/checkpoint_000001")  # the latest replaces it
    assert replaced.path == "/store/a/checkpoint_000000" and not book.unreferenced(replaced.path)  # third's
    book.checkpointed(third, 80, "/store/a/checkpoint_000001")
    assert book.unreferenced("/store/a/checkpoint_000000")
    assert book.bundle_failed(bundle.bundle_id) == []
    retries = [book.next_bundle(), book.next_bundle()]
    # The members of one checkpoint retry together and continue from it; the other restarts.
    assert [[m.trial_id for m in b.members] for b in retries] == [[first], [second, third]]
    assert book.restore_of(retries[0]) == {}
    assert book.restore_of(retries[1]) == {second: "/store/a/checkpoint_000001", third: "/store/a/checkpoint_000001"}
    assert book.attempt(second) == book.attempt(third) == 1
    assert book.mark_finished(second) and book.forget_checkpoint(second).step == 80
    assert not book.unreferenced("/store/a/checkpoint_000001")  # third still continues from it
    assert book.mark_finished(third) and book.forget_checkpoint(third) is not None
    assert book.unreferenced("/store/a/checkpoint_000001") and book.forget_checkpoint(third) is None
    book.checkpointed(second, 90, "/late")  # a report after its final row is ignored
    assert second not in book.checkpoints
