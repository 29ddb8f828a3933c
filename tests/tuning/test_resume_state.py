"""What resume decides to run, from Parquet rows written by hand (no Ray)."""

from __future__ import annotations

from tests.tuning.result_rows import write_rows
from tuning.commands.resume import load_resume_state
from tuning.plan.resolve import rerun_trials, resolve_plan
from tuning.spec.config import load_config
from tuning.store.experiment import create_experiment


def _experiment(tmp_path):
    (tmp_path / "grid.yaml").write_text(
        "name: grid\nschedule: constant\nsearch: grid\nrerun_best: {seeds: 2}\n"
        "optimizers:\n  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0e-1, scaling: log, num: 3}\n"
    )
    config_path = tmp_path / "c.yaml"
    config_path.write_text(
        "name: rs\nworkloads: [{name: mnist1d-mlp, steps: 10, eval_every: 10}]\n"
        "optimizers: [sgd]\nprotocols: [grid.yaml]\ntrials_per_search: 1\n"
    )
    config = load_config(config_path)
    plan = resolve_plan(config)
    return config, plan, create_experiment(str(tmp_path / "r"), "rs", config, plan)


def test_retrying_a_failed_trial_does_not_plan_finished_reruns_again(tmp_path):
    config, plan, experiment = _experiment(tmp_path)
    write_rows(experiment, plan, ["completed", "failed", "completed"], [0.5, float("nan"), 0.3])
    reruns = rerun_trials(plan[2], 3, 2, config.seed)
    write_rows(experiment, reruns, ["completed", "completed"], [0.31, 0.32])

    state = load_resume_state(experiment)
    assert state.pending == [] and state.finished == 5

    state = load_resume_state(experiment, retry_failed=True)
    assert [t.trial_id for t in state.pending] == [plan[1].trial_id]
    assert state.run.attempt_offsets[plan[1].trial_id] == 1
    # When the retried trial finishes best, its search still plans no second set of reruns.
    assert state.run.planners.reruns.record(plan[1], {"status": "completed", "final_val_error": 0.01}) == []
    assert not state.run.planners.reruns.outstanding()


def test_reruns_of_a_finished_search_are_planned_when_missing(tmp_path):
    config, plan, experiment = _experiment(tmp_path)
    write_rows(experiment, plan, ["completed", "completed", "completed"], [0.5, 0.2, 0.3])
    state = load_resume_state(experiment)
    assert [t.trial_id for t in state.pending] == [
        "mnist1d-mlp/grid/sgd/00003", "mnist1d-mlp/grid/sgd/00004"
    ]
    assert all(t.hparams == plan[1].hparams and t.phase == "rerun" for t in state.pending)
