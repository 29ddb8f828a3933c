"""An experiment measures steps to target against the target it recorded: the config's
``target_value`` (or the workload's) goes into every planned trial and experiment.json, a
resumed experiment keeps the recorded one after the workload's default changed, and the
training loop measures against the trial's target."""

from __future__ import annotations

import json

import pytest

import workloads
from optcompare.errors import InputError
from tuning.commands.resume import load_resume_state
from tuning.plan.resolve import resolve_plan
from tuning.planners.bundles import bundle_key
from tuning.spec.config import load_config
from tuning.store.experiment import create_experiment

GRID = (
    "name: grid\nschedule: constant\nsearch: grid\n"
    "optimizers:\n  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0e-1, scaling: log, num: 2}\n"
)


def _config(tmp_path, target: str = ""):
    (tmp_path / "grid.yaml").write_text(GRID)
    path = tmp_path / "c.yaml"
    path.write_text(
        f"name: t\nworkloads: [{{name: mnist1d-mlp, steps: 10, eval_every: 10{target}}}]\n"
        "optimizers: [sgd]\nprotocols: [grid.yaml]\ntrials_per_search: 1\n"
    )
    return load_config(path)


def test_the_workload_s_target_by_default_and_the_config_s_when_given(tmp_path):
    default = workloads.get_class("mnist1d-mlp").target_value
    assert {t.target_value for t in resolve_plan(_config(tmp_path))} == {default}
    config = _config(tmp_path, ", target_value: 0.4")
    plan = resolve_plan(config)
    assert {t.target_value for t in plan} == {0.4}
    experiment = create_experiment(str(tmp_path / "r"), "t", config, plan)
    recorded = json.loads((tmp_path / "r" / "t" / "experiment.json").read_text())
    assert recorded["workloads"][0]["target_value"] == 0.4
    assert experiment.endswith("t")


@pytest.mark.parametrize("bad", ["-0.1", "x", "true"])
def test_a_bad_target_is_refused(tmp_path, bad):
    with pytest.raises(InputError, match="target_value"):
        _config(tmp_path, f", target_value: {bad}")


def test_resume_keeps_the_recorded_target_after_the_default_changed(tmp_path, monkeypatch):
    config = _config(tmp_path)
    experiment = create_experiment(str(tmp_path / "r"), "t", config, resolve_plan(config))
    recorded = workloads.get_class("mnist1d-mlp").target_value
    monkeypatch.setattr(workloads.get_class("mnist1d-mlp"), "target_value", 0.123)  # a later release's default
    assert {t.target_value for t in resolve_plan(_config(tmp_path))} == {0.123}  # a new experiment takes it
    state = load_resume_state(experiment)
    assert {t.target_value for t in state.pending} == {recorded}
    assert state.config.workloads[0].target_value == recorded


def test_trials_with_other_targets_never_share_a_bundle(tmp_path):
    (a,), (b,) = (resolve_plan(_config(tmp_path, f", target_value: {v}"))[:1] for v in (0.4, 0.5))
    assert bundle_key(a) != bundle_key(b)
    assert bundle_key(a) == bundle_key(a.model_copy(update={"trial_index": 7}))


def test_the_training_loop_measures_against_the_trial_s_target():
    mlp = workloads.get("mnist1d-mlp")
    args = ("adam", {"learning_rate": 3e-3}, "constant", {})
    easy = workloads.train(mlp, *args, seed=0, steps=20, eval_every=10, target_value=0.95)  # chance is 0.9
    never = workloads.train(mlp, *args, seed=0, steps=20, eval_every=10, target_value=0.0)
    assert [r.val_error for r in easy.rows] == [r.val_error for r in never.rows]  # the target changes nothing else
    assert easy.steps_to_target == 10 and never.steps_to_target is None
