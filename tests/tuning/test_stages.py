"""Staged protocols and repeated studies (tuning/planners/stages.py, tuning/plan/resolve.py): the stage layout,
what is planned up front, the next stage planned from the finished rows, reruns and probes of
the last stage, and resume re-deriving bitwise the same refined spaces. No Ray."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from optcompare.errors import InputError
from tests.tuning.result_rows import write_rows
from tuning.commands.resume import load_resume_state
from tuning.driver.study_options import StudyOptions
from tuning.plan.refine import refine_search
from tuning.plan.resolve import resolve_plan
from tuning.plan.tracks import track_of
from tuning.planners.bundles import TrialBook
from tuning.planners.stages import StagePlanner, stage_rows
from tuning.spec.config import load_config
from tuning.spec.refine_rule import RefineRule
from tuning.spec.stages import Stage, stage_layout
from tuning.store.experiment import create_experiment, record_refined
from tuning.store.rows import search_key

STAGED = """\
name: staged
schedule: constant
stages:
  - {name: initial, fraction: 0.5}
  - {name: final, fraction: 0.5, refine: {best_k: 2, margin: 0.5}}
rerun_best: {seeds: 2}
optimizers:
  sgd:
    learning_rate: {min: 1.0e-4, max: 1.0, scaling: log}
  momentum:
    learning_rate: {min: 1.0e-4, max: 1.0, scaling: log}
    momentum: 0.9
"""


def _config(tmp_path, studies=1, optimizers="[sgd]", extra="", protocol=STAGED):
    (tmp_path / "staged.yaml").write_text(protocol)
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: st\nworkloads: [{name: mnist1d-mlp, steps: 10, eval_every: 10}]\n"
        f"optimizers: {optimizers}\nprotocols: [staged.yaml]\ntrials_per_search: 8\n"
        f"studies: {studies}\n{extra}"
    )
    return load_config(path)


def _done(value):
    return {"status": "completed", "final_val_error": value}


def _error_of(trial):
    """A hand-made response: error grows with |log10 lr + 2| (best near lr = 1e-2)."""
    return abs(math.log10(trial.hparams["learning_rate"]) + 2.0) / 10


@pytest.mark.parametrize(
    ("fractions", "trials", "expected"),
    [
        ((0.5, 0.5), 8, [(0, 4), (4, 4)]),
        ((0.5, 0.5), 7, [(0, 4), (4, 3)]),  # round(3.5) = 4
        ((1 / 3, 1 / 3, 1 / 3), 5, [(0, 2), (2, 1), (3, 2)]),  # c = round(1.67), round(3.33), 5
        ((0.25, 0.75), 10, [(0, 2), (2, 8)]),  # round(2.5) = 2 (half to even)
    ],
)
def test_stage_layout_is_cumulative_rounding(fractions, trials, expected):
    stages = [Stage(f"s{i}", f) for i, f in enumerate(fractions)]
    assert [(s.first, s.count) for s in stage_layout(stages, trials)] == expected


def test_a_staged_protocol_plans_its_first_stage_only(tmp_path):
    plan = resolve_plan(_config(tmp_path))
    assert [t.trial_index for t in plan] == [0, 1, 2, 3]
    assert {t.stage for t in plan} == {"initial"} and {t.study for t in plan} == {0}
    assert plan[0].trial_id == "mnist1d-mlp/staged/sgd/00000"


def test_studies_have_distinct_seeds_and_ids_and_study_0_is_the_one_study_plan(tmp_path):
    one = resolve_plan(_config(tmp_path, studies=1))
    three = resolve_plan(_config(tmp_path, studies=3))
    assert len(three) == 3 * len(one)
    assert [t for t in three if t.study == 0] == one
    ids = [t.trial_id for t in three]
    assert len(set(ids)) == len(ids)
    assert "mnist1d-mlp/staged/sgd/s2/00003" in ids
    for study in (1, 2):
        trials = [t for t in three if t.study == study]
        assert {t.seed for t in trials}.isdisjoint({t.seed for t in one})
        # Other Halton seeds: other points.
        assert [t.tuned for t in trials] != [t.tuned for t in one]


def _run_book(config, recorder=None, *, stop_after=None, fail=()):
    """Drive the book as the driver does, with :func:`_error_of` as every trial's result (trial
    indices in ``fail`` fail); return (finished trials in order, the stage planner)."""
    plan = resolve_plan(config)
    planners = StudyOptions.from_config(config).planners(plan, recorder)
    stages = planners.stages
    book = TrialBook(plan, lambda t: 3, planners, max_failures=0)
    finished = []
    while (bundle := book.next_bundle()) is not None:
        for member in bundle.members:
            assert book.mark_finished(member.trial_id)
            book.record_result(member, None if member.trial_index in fail else _done(_error_of(member)))
            finished.append(member)
            if stop_after is not None and len(finished) == stop_after:
                return finished, stages
        book.bundle_ended(bundle.bundle_id)
    assert not book.has_work()
    return finished, stages


def test_the_final_stage_searches_the_refined_space_after_the_initial_stage(tmp_path):
    config = _config(tmp_path)
    records = []
    finished, stages = _run_book(config, records.append)
    initial = [t for t in finished if t.phase == "search" and t.stage == "initial"]
    final = [t for t in finished if t.phase == "search" and t.stage == "final"]
    assert [t.trial_index for t in final] == [4, 5, 6, 7]
    assert finished.index(final[0]) > max(finished.index(t) for t in initial)
    (record,) = records
    assert record["stage"] == "final" and record["from_stage"] == "initial" and record["study"] == 0
    # The rule by hand: the best 2 initial trials by error span [lo, hi]; margin 0.5 decades.
    best = sorted(initial, key=lambda t: (_error_of(t), t.trial_index))[:2]
    rates = [t.hparams["learning_rate"] for t in best]
    low, high = max(1e-4, min(rates) * 10**-0.5), min(1.0, max(rates) * 10**0.5)
    (coordinate,) = record["coordinates"]
    assert coordinate["new"]["min"] == pytest.approx(low, rel=1e-12)
    assert coordinate["new"]["max"] == pytest.approx(high, rel=1e-12)
    assert record["best_trial_ids"] == [t.trial_id for t in best]
    for trial in final:
        assert low <= trial.hparams["learning_rate"] <= high
        assert trial.tuned["learning_rate"] == trial.hparams["learning_rate"]
    # ... and the same as refine_search on the initial rows.
    key = search_key(initial[0])
    rows = stage_rows(key, [(t, "completed", _error_of(t)) for t in initial], StudyOptions.from_config(config).staged[0].for_optimizer("sgd"), "final_val_error")
    space = {"learning_rate": {"min": 1e-4, "max": 1.0, "scaling": "log"}}
    assert refine_search(rows, space, RefineRule(best_k=2)).space["learning_rate"] == coordinate["new"]
    assert not stages.outstanding()


def test_reruns_come_from_the_final_stage_best_after_the_final_stage(tmp_path):
    finished, _ = _run_book(_config(tmp_path))
    final = [t for t in finished if t.stage == "final" and t.phase == "search"]
    reruns = [t for t in finished if t.phase == "rerun"]
    best = min(final, key=lambda t: (_error_of(t), t.trial_index))
    assert [t.trial_index for t in reruns] == [8, 9]
    assert all(r.hparams == best.hparams and r.stage == "final" for r in reruns)


def test_each_study_refines_and_probes_its_own_searches(tmp_path):
    config = _config(tmp_path, studies=2, optimizers="[sgd, momentum]", extra="probes: true\n")
    records = []
    finished, _ = _run_book(config, records.append)
    assert sorted((r["optimizer"], r["study"]) for r in records) == [
        ("momentum", 0), ("momentum", 1), ("sgd", 0), ("sgd", 1),
    ]
    probes = [t for t in finished if t.phase == "probe"]
    assert sorted(p.trial_id for p in probes) == [
        "mnist1d-mlp/staged/momentum/00010", "mnist1d-mlp/staged/momentum/s1/00010",
    ]
    for probe in probes:
        narrow = [t for t in finished if t.optimizer == "sgd" and t.study == probe.study
                  and t.stage == "final" and t.phase == "search"]
        best = min(narrow, key=lambda t: (_error_of(t), t.trial_index))
        assert probe.seed == best.seed and probe.hparams["learning_rate"] == best.hparams["learning_rate"]
    ids = [t.trial_id for t in finished]
    assert len(ids) == len(set(ids)) == 2 * 2 * (8 + 2) + 2


def _write(experiment, trials):
    """Rows of ``trials``, completed at :func:`_error_of`."""
    write_rows(experiment, trials, ["completed"] * len(trials), [_error_of(t) for t in trials])


def test_resume_re_derives_bitwise_the_same_spaces_and_runs_only_what_is_left(tmp_path):
    config = _config(tmp_path)
    plan = resolve_plan(config)
    experiment = create_experiment(str(tmp_path / "r"), "st", config, plan)
    finished, _ = _run_book(config, lambda r: record_refined(experiment, [r]), stop_after=6)
    _write(experiment, finished)  # 4 initial + 2 final trials have rows; the driver died
    recorded = json.loads((tmp_path / "r" / "st" / "experiment.json").read_text())["refined"]
    state = load_resume_state(experiment)
    assert state.refined == recorded
    assert [t.trial_index for t in state.pending] == [6, 7]
    assert [t.stage for t in state.pending] == ["final", "final"]
    assert state.finished == 6 and state.run.planners.reruns.max_reruns == 2

    # An initial row changed under the study: its refinement no longer matches the record.
    write_rows(experiment, finished[:1], ["completed"], [-1.0], attempt=1)
    with pytest.raises(InputError, match="re-derived from the rows differs"):
        load_resume_state(experiment)


def test_resume_records_a_refinement_the_driver_did_not_write(tmp_path):
    config = _config(tmp_path)
    plan = resolve_plan(config)
    experiment = create_experiment(str(tmp_path / "r"), "st", config, plan)
    finished, _ = _run_book(config, stop_after=4)
    _write(experiment, finished)
    state = load_resume_state(experiment)
    assert len(state.refined) == 1 and [t.trial_index for t in state.pending] == [4, 5, 6, 7]


def test_a_stage_with_fewer_than_two_completed_trials_keeps_its_space(tmp_path):
    config = _config(tmp_path)
    plan = resolve_plan(config)
    records = []
    planner = StagePlanner(plan, StudyOptions.from_config(config).staged, 8, 0, records.append)
    for trial in plan:
        planner.record(trial, None if trial.trial_index else _done(0.3))  # 3 failed, 1 completed
    (record,) = records
    assert "not refined" in record["note"] and record["best_trial_ids"] == []
    final = list(planner.ready)
    assert len(final) == 4 and all(1e-4 <= t.hparams["learning_rate"] <= 1.0 for t in final)
    assert track_of(final[0]) == track_of(plan[0])
    assert np.isfinite([t.hparams["learning_rate"] for t in final]).all()


def test_refine_of_a_staged_experiment_starts_from_the_stage_s_own_rows_and_space(tmp_path):
    from optcompare.errors import ParameterError
    from tuning.commands.refine_experiment import refine_experiment
    from tuning.spec.protocol import parse_protocol

    config = _config(tmp_path)
    plan = resolve_plan(config)
    experiment = create_experiment(str(tmp_path / "r"), "st", config, plan)
    finished, _ = _run_book(config, lambda r: record_refined(experiment, [r]))
    _write(experiment, finished)
    meta = json.loads((tmp_path / "r" / "st" / "experiment.json").read_text())
    (final_space,) = meta["refined"][0]["coordinates"]
    spec = StudyOptions.from_config(config).staged[0].for_optimizer("sgd")
    for stage, space in (("final", {"learning_rate": final_space["new"]}), ("initial", dict(spec.space))):
        refined = refine_experiment(experiment, "staged", stage=stage)
        rows = [t for t in finished if t.stage == stage and t.phase == "search"]
        expected = refine_search(
            stage_rows(search_key(rows[0]), [(t, "completed", _error_of(t)) for t in rows], spec, "final_val_error"),
            space, RefineRule(),
        )
        assert refined.searches[0].space == expected.space
        assert refined.searches[0].best_trial_ids == expected.best_trial_ids
        assert "stages" not in refined.raw  # a one-stage protocol in the refined spaces
        assert parse_protocol(refined.raw, "refined").stages == ()
    with pytest.raises(ParameterError, match="'middle' is not a stage of protocol 'staged'; its stages: initial, final"):
        refine_experiment(experiment, "staged", stage="middle")


def test_a_search_s_next_stage_runs_before_the_rest_of_the_plan(tmp_path):
    # Two searches (sgd, momentum); sgd's final stage is handed out as soon as sgd's initial
    # stage has finished, ahead of momentum's initial trials still in the plan.
    finished, _ = _run_book(_config(tmp_path, optimizers="[sgd, momentum]"))
    order = [(t.optimizer, t.stage) for t in finished if t.phase == "search"]
    assert order.index(("sgd", "final")) < order.index(("momentum", "initial"))


def test_retry_failed_leaves_a_stage_that_was_refined_from_as_it_was(tmp_path):
    config = _config(tmp_path)
    plan = resolve_plan(config)
    experiment = create_experiment(str(tmp_path / "r"), "st", config, plan)
    finished, _ = _run_book(config, lambda r: record_refined(experiment, [r]), fail=(1, 5))
    failed = (1, 5)  # one initial and one final trial failed
    statuses = ["failed" if t.trial_index in failed else "completed" for t in finished]
    write_rows(experiment, finished, statuses, [_error_of(t) for t in finished])
    state = load_resume_state(experiment, retry_failed=True)
    # The failed final trial is retried; the failed initial one is not: the final space came
    # from the initial rows as they were (retrying it would plan the final stage again).
    assert [(t.trial_index, t.stage) for t in state.pending] == [(5, "final")]
    recorded = json.loads((tmp_path / "r" / "st" / "experiment.json").read_text())["refined"]
    assert state.refined == recorded and len(recorded) == 1  # re-derived as it was, once


DECOUPLED = """\
name: staged
schedule: constant
stages:
  - {name: initial, fraction: 0.5}
  - {name: final, fraction: 0.5, refine: {best_k: 2, margin: 0.5, decoupled: true}}
optimizers:
  momentum:
    learning_rate: {min: 1.0e-4, max: 1.0, scaling: log}
    one_minus_momentum: {min: 1.0e-3, max: 1.0, scaling: log}
"""


def test_a_decoupled_final_stage_searches_the_effective_rate_and_resolves_the_learning_rate(tmp_path):
    config = _config(tmp_path, optimizers="[momentum]", protocol=DECOUPLED)
    records = []
    finished, _ = _run_book(config, records.append)
    (record,) = records
    assert record["replaced"] == {"learning_rate": "effective_learning_rate"}
    assert "decoupled" in record["rule"]
    new = {c["name"]: c["new"] for c in record["coordinates"]}
    assert set(new) == {"effective_learning_rate", "one_minus_momentum"}
    final = [t for t in finished if t.phase == "search" and t.stage == "final"]
    assert len(final) == 4
    for trial in final:
        eff, omm = trial.tuned["effective_learning_rate"], trial.tuned["one_minus_momentum"]
        assert new["effective_learning_rate"]["min"] <= eff <= new["effective_learning_rate"]["max"]
        assert trial.hparams["learning_rate"] == pytest.approx(eff * omm, rel=1e-12)
        assert trial.hparams["momentum"] == pytest.approx(1.0 - omm, rel=1e-12)


COVER = """\
name: staged
schedule: constant
stages:
  - {name: initial, fraction: 0.5}
  - {name: final, fraction: 0.5, refine: {best_k: 2, margin: 0.5, cover_inclusions: true}}
optimizers:
  sgd:
    learning_rate: {min: 1.0e-4, max: 1.0, scaling: log}
  momentum:
    learning_rate: {min: 1.0e-5, max: 1.0, scaling: log}
    one_minus_momentum: {min: 1.0e-3, max: 1.0, scaling: log}
  adam:
    learning_rate: {min: 1.0e-5, max: 1.0, scaling: log}
    one_minus_beta2: {min: 1.0e-4, max: 1.0e-1, scaling: log}
"""


def _cover_config(tmp_path, protocol=COVER):
    return _config(tmp_path, optimizers="[momentum, adam, sgd]", protocol=protocol)


def _momentum_error(trial):
    """Momentum's own response: best at a rate of 1e-4 with momentum 0.99, so its refinement
    leaves both SGD's best rates (near 1e-2) and momentum = 0 behind."""
    if trial.optimizer != "momentum":
        return abs(math.log10(trial.hparams["learning_rate"]) + 2.0) / 10  # as _error_of
    return abs(math.log10(trial.hparams["learning_rate"]) + 4.0) / 10 + abs(math.log10(1 - trial.hparams["momentum"]) + 2.0) / 10


def test_cover_inclusions_widens_momentum_to_sgd_s_best_at_momentum_0_after_sgd_s_stage(tmp_path, monkeypatch):
    # SGD's best initial trials lie near lr = 1e-2; momentum's own refinement (its best near
    # 1e-4 at momentum 0.99) drops them and momentum = 0 (one_minus_momentum = 1), which the
    # protocol's space holds. Covering puts them back. Adam cannot imitate SGD inside its
    # protocol space (beta2 = 0 against one_minus_beta2 <= 0.1): nothing is widened there.
    monkeypatch.setattr(sys.modules[__name__], "_error_of", _momentum_error)
    config = _cover_config(tmp_path)
    records = []
    finished, _ = _run_book(config, records.append)
    by_optimizer = {r["optimizer"]: r for r in records}
    sgd_initial = [t for t in finished if t.optimizer == "sgd" and t.stage == "initial"]
    sgd_best = sorted(sgd_initial, key=lambda t: (_momentum_error(t), t.trial_index))[:2]
    covered = by_optimizer["momentum"]["cover_inclusions"]
    assert covered["narrow"] == {"sgd": {"best_trial_ids": [t.trial_id for t in sgd_best], "covered": True}}
    rates = [t.hparams["learning_rate"] for t in sgd_best]
    assert covered["moved"]["learning_rate"]["max"]["to"] == pytest.approx(max(rates), rel=1e-12)
    assert covered["moved"]["one_minus_momentum"]["max"]["to"] == 1.0
    new = {c["name"]: c["new"] for c in by_optimizer["momentum"]["coordinates"]}
    assert new["learning_rate"]["max"] == pytest.approx(max(rates), rel=1e-12) and new["one_minus_momentum"]["max"] == 1.0
    adam = by_optimizer["adam"]["cover_inclusions"]
    assert adam["moved"] == {} and adam["narrow"]["sgd"]["covered"] is False
    assert adam["narrow"]["sgd"]["best_trial_ids"] == []  # not tried: no range of this protocol expresses it
    assert adam["narrow"]["sgd"]["why"].startswith("not expressible under staged, whatever the ranges: ")
    assert "one_minus_beta2 = 1 (beta2 = 0)" in adam["narrow"]["sgd"]["why"]
    assert "cover_inclusions" not in by_optimizer["sgd"]  # sgd includes nothing here
    # Momentum's final stage was planned only once SGD's initial stage had finished.
    momentum_final = [t for t in finished if t.optimizer == "momentum" and t.stage == "final"]
    assert finished.index(momentum_final[0]) > max(finished.index(t) for t in sgd_initial)
    for t in momentum_final:
        assert t.hparams["learning_rate"] <= max(rates) * (1 + 1e-12)


def test_cover_inclusions_is_re_derived_bitwise_on_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "_error_of", _momentum_error)
    config = _cover_config(tmp_path)
    plan = resolve_plan(config)
    experiment = create_experiment(str(tmp_path / "r"), "st", config, plan)
    finished, _ = _run_book(config, lambda r: record_refined(experiment, [r]), stop_after=16)
    _write(experiment, finished)
    recorded = json.loads((tmp_path / "r" / "st" / "experiment.json").read_text())["refined"]
    assert any("cover_inclusions" in r for r in recorded)
    state = load_resume_state(experiment)
    assert state.refined == recorded
    assert len(state.pending) == 24 - 16


def test_without_cover_inclusions_an_older_protocol_plans_as_before(tmp_path, monkeypatch):
    # The same protocol without the option: momentum's final space is its own refinement.
    monkeypatch.setattr(sys.modules[__name__], "_error_of", _momentum_error)
    records = []
    _run_book(_cover_config(tmp_path, COVER.replace(", cover_inclusions: true", "")), records.append)
    momentum = next(r for r in records if r["optimizer"] == "momentum")
    assert "cover_inclusions" not in momentum
    assert {c["name"]: c["new"] for c in momentum["coordinates"]}["learning_rate"]["max"] < 1e-2


def test_a_wide_search_waits_only_for_inclusions_its_protocol_can_express(tmp_path):
    # Momentum waits for SGD (sgd <= momentum at momentum = 0 is a range); Adam waits for
    # nothing: imitating SGD or momentum needs beta2 = 0, which no range of one_minus_beta2 <= 0.1
    # holds, so covering could never widen it and waiting would only idle its slots.
    config = _cover_config(tmp_path)
    planner = StagePlanner(resolve_plan(config), StudyOptions.from_config(config).staged, config.trials_per_search, config.seed)
    waits = {t.key.optimizer: sorted(n.key.optimizer for n in narrows) for t, narrows in planner.narrows.items()}
    assert waits == {"momentum": ["sgd"]}
    (adam,) = [t for t in planner.unexpressible if t.key.optimizer == "adam"]
    assert sorted(planner.unexpressible[adam]) == ["momentum", "sgd"]
