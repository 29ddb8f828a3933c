"""Grid searches, budget ladders and reruns of the best trial."""

from __future__ import annotations

import math

import pytest

import optimizers
from optcompare.errors import InputError
from tuning.plan.resolve import resolve_plan, search_points
from tuning.planners.reruns import RerunPlanner
from tuning.spec.config import load_config
from tuning.spec.protocol import load_protocol
from tuning.spec.protocol_files import shipped_protocols


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("protocol", shipped_protocols())
def test_every_shipped_protocol_resolves_for_every_builtin_optimizer(protocol):
    p = load_protocol(protocol)
    for opt in optimizers.names():
        if opt not in p.searches and optimizers.get_spec(opt).search_space is None:
            with pytest.raises(InputError, match=f"has no search space for optimizer '{opt}'"):
                p.for_optimizer(opt)  # a ruleset's protocol (algoperf-external) need not list it
            continue
        if optimizers.get_spec(opt).constant_schedule and p.schedule_for(opt) != "constant":
            with pytest.raises(InputError, match=f"optimizer '{opt}' averages its iterates"):
                p.for_optimizer(opt)  # refused, saying why (tests/optimizers/test_library.py)
            continue
        search = p.for_optimizer(opt)
        assert search.schedule == p.schedule_for(opt)
        for point in search_points(search, 60, seed=0)[:40]:
            hparams, schedule = search.resolve(point)
            optimizers.validate_hparams(opt, hparams)
            optimizers.make_schedule(search.schedule, hparams["learning_rate"], 100, **schedule)


def test_deepobs_grid_is_36_log_spaced_points_from_1e_5_to_1e2():
    search = load_protocol("deepobs2019").for_optimizer("adam")
    points = [pt["learning_rate"] for pt in search_points(search, 8, 0)]
    assert len(points) == 36
    assert points[0] == 1e-5 and points[-1] == 1e2
    ratios = [b / a for a, b in zip(points, points[1:], strict=False)]
    assert all(r == pytest.approx(10 ** 0.2) for r in ratios)  # 7 decades / 35 steps
    hp, schedule = search.resolve({"learning_rate": points[3]})
    assert (hp["beta1"], hp["beta2"], hp["epsilon"]) == (0.9, 0.999, 1e-8) and schedule == {}
    assert load_protocol("deepobs2019").rerun_seeds == 10


def test_deepobs_momentum_is_0_9_for_every_optimizer_with_momentum():
    # The header says momentum 0.9 and "the same treatment" for RMSProp.
    protocol = load_protocol("deepobs2019")
    for opt in ("momentum", "nesterov", "rmsprop"):
        hp, _ = protocol.for_optimizer(opt).resolve({"learning_rate": 0.01})
        assert hp["momentum"] == 0.9, opt


def test_wilson_grid_crosses_learning_rates_with_decay_factors():
    search = load_protocol("wilson2017").for_optimizer("sgd")
    grid = search_points(search, 3, 0)
    assert len(grid) == 12
    assert {pt["step_decay_factor"] for pt in grid} == {0.1, 0.5}
    assert sorted({pt["learning_rate"] for pt in grid}) == [0.01, 0.05, 0.25, 0.5, 1.0, 2.0]
    _, schedule = search.resolve(grid[0])
    assert schedule["step_decay_every_factor"] == 0.1


@pytest.mark.parametrize(
    ("trials", "searched"),
    [
        (8, {"learning_rate"}),
        (10, {"learning_rate", "one_minus_beta1"}),
        (25, {"learning_rate", "one_minus_beta1", "epsilon"}),
        (50, {"learning_rate", "one_minus_beta1", "epsilon", "one_minus_beta2"}),
    ],
)
def test_playbook_ladder_adds_coordinates_with_budget(trials, searched):
    search = load_protocol("playbook-adam").for_optimizer("adam")
    points = search_points(search, trials, 0)
    assert len(points) == trials and set(points[0]) == searched
    hp, _ = search.resolve(points[0])
    if "one_minus_beta2" not in searched:
        assert hp["beta2"] == 0.999  # below its rung: Adam's default
    if "epsilon" not in searched:
        assert hp["epsilon"] == 1e-8


def test_grid_plan_ignores_trials_per_search(tmp_path):
    config = _write(
        tmp_path, "c.yaml",
        "name: g\nworkloads: [mnist1d-mlp]\noptimizers: [sgd, adam]\nprotocols: [wilson2017]\ntrials_per_search: 3\n",
    )
    plan = resolve_plan(load_config(config))
    assert len(plan) == 24
    assert [t.trial_index for t in plan if t.optimizer == "adam"] == list(range(12))
    assert all(t.phase == "search" for t in plan)


GRID_HEAD = "name: g\nschedule: constant\nsearch: grid\noptimizers:\n  sgd:\n"
QR_HEAD = "name: q\nschedule: constant\noptimizers:\n  sgd:\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GRID_HEAD + "    learning_rate: {min: 0.1, max: 1.0, scaling: log}\n", "a grid search needs feasible_points or a range with num"),
        (QR_HEAD + "    learning_rate: {min: 0.1, max: 1.0, scaling: log, num: 4}\n", "only a grid search takes num"),
        (GRID_HEAD + "    learning_rate: {min: 0.1, max: 1.0, scaling: log, num: 0}\n", "num: expected an integer >= 1"),
        (GRID_HEAD + "    learning_rate: {feasible_points: [0.1], num: 3}\n", "either num with min/max/scaling or feasible_points"),
        (QR_HEAD + "    learning_rate: {min: 0.1, max: 1.0, scaling: log, from_trials: 0}\n", "from_trials: expected an integer >= 1"),
        (QR_HEAD + "    learning_rate: {min: 0.1, max: 1.0, scaling: log, from_trials: ten}\n", "from_trials: expected an integer >= 1"),
        (GRID_HEAD + "    learning_rate: {min: 0.1, max: 1.0, scaling: log, num: 4, from_trials: 10}\n",
         "optimizers.sgd.learning_rate.from_trials: only a quasirandom search takes from_trials"),
        (GRID_HEAD + "    learning_rate: {feasible_points: [0.1, 1.0], from_trials: 10}\n",
         "optimizers.sgd.learning_rate.from_trials: only a quasirandom search takes from_trials"),
        ("rerun_best: {seeds: 0}\n" + QR_HEAD + "    learning_rate: 0.1\n", "rerun_best: expected {seeds: N} with N >= 1"),
        ("rerun_best: 10\n" + QR_HEAD + "    learning_rate: 0.1\n", "rerun_best: expected {seeds: N}"),
        ("rerun_best: {seeds: 3, best: 1}\n" + QR_HEAD + "    learning_rate: 0.1\n", "rerun_best: expected {seeds: N}"),
    ],
)
def test_bad_grid_ladder_and_rerun_fields(tmp_path, text, expected):
    path = _write(tmp_path, "p.yaml", text)
    with pytest.raises(InputError) as err:
        load_protocol(str(path))
    assert expected in str(err.value) and str(path) in str(err.value)


def _plan(tmp_path):
    config = _write(
        tmp_path, "c.yaml",
        "name: d\nworkloads: [{name: mnist1d-mlp, steps: 10, eval_every: 5}]\n"
        "optimizers: [sgd]\nprotocols: [deepobs2019, lr-only]\ntrials_per_search: 2\nseed: 3\n",
    )
    return resolve_plan(load_config(config))


def test_rerun_planner_picks_the_best_completed_trial_when_a_search_ends(tmp_path):
    plan = _plan(tmp_path)
    planner = RerunPlanner(plan, {"deepobs2019": (10, "val_error")}, experiment_seed=3)
    deepobs = [t for t in plan if t.protocol == "deepobs2019"]
    assert len(deepobs) == 36 and planner.max_reruns == 10 and planner.outstanding()
    for t in plan:  # lr-only trials never trigger reruns
        if t.protocol == "lr-only":
            assert planner.record(t, {"status": "completed", "final_val_error": 0.0}) == []
    errors = {t.trial_id: 0.5 + abs(t.trial_index - 20) / 100 for t in deepobs}  # best: index 20
    errors[deepobs[5].trial_id] = 0.01  # lower, but diverged: not eligible
    for t in deepobs[:-1]:
        status = "diverged" if t is deepobs[5] else "completed"
        assert planner.record(t, {"status": status, "final_val_error": errors[t.trial_id]}) == []
    reruns = planner.record(deepobs[-1], None)  # the last one failed
    assert len(reruns) == 10 and not planner.outstanding() and planner.max_reruns == 0
    best = deepobs[20]
    assert all(r.hparams == best.hparams and r.phase == "rerun" for r in reruns)
    assert [r.trial_index for r in reruns] == list(range(36, 46))
    assert reruns[0].trial_id == "mnist1d-mlp/deepobs2019/sgd/00036"
    assert len({r.seed for r in reruns} | {best.seed}) == 11
    assert [planner.take() for _ in range(10)] == reruns and planner.take() is None


def test_a_search_without_completed_trials_gets_no_reruns(tmp_path):
    plan = [t for t in _plan(tmp_path) if t.protocol == "deepobs2019"]
    planner = RerunPlanner(plan, {"deepobs2019": (10, "train_loss")}, experiment_seed=3)
    for t in plan:
        assert planner.record(t, {"status": "diverged", "final_train_loss": math.nan}) == []
    assert not planner.outstanding() and planner.take() is None


@pytest.mark.parametrize("bad", ["a/b", "x=y", ""])
def test_protocol_names_must_be_path_safe(tmp_path, bad):
    path = _write(tmp_path, "p.yaml", f"name: '{bad}'\nschedule: constant\noptimizers:\n  sgd:\n    learning_rate: 0.1\n")
    with pytest.raises(InputError, match="name: .*not usable as a path component"):
        load_protocol(str(path))
