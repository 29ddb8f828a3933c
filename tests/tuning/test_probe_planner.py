"""Inclusion probes: which pairs are probed, what a probe trains, when it is planned, resume."""

from __future__ import annotations

import math

import pytest

import optimizers
from tests.tuning.result_rows import write_rows
from tuning.commands.resume import load_resume_state
from tuning.plan.probe_trials import probe_trial
from tuning.plan.resolve import resolve_plan
from tuning.planners.probes import ProbePlanner, plan_probes
from tuning.spec.config import load_config
from tuning.spec.probe_pairs import ProbePair, inclusion_pairs
from tuning.store.experiment import create_experiment


def _config(tmp_path, optimizer_names="[sgd, momentum]", extra="probes: true\n"):
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: pr\nworkloads: [{name: mnist1d-mlp, steps: 20, eval_every: 10}]\n"
        f"optimizers: {optimizer_names}\nprotocols: [lr-only]\ntrials_per_search: 3\nseed: 4\n"
        + extra
    )
    return load_config(path)


def _completed(error):
    return {"status": "completed", "final_val_error": error}


def _by_optimizer(plan):
    out = {}
    for trial in plan:
        out.setdefault(trial.optimizer, []).append(trial)
    return out


def test_pairs_are_the_registered_inclusion_paths_among_the_study_optimizers():
    assert inclusion_pairs(["adam", "sgd", "momentum", "rmsprop"]) == [
        ProbePair("sgd", "adam"), ProbePair("momentum", "adam"), ProbePair("sgd", "momentum"),
        ProbePair("sgd", "rmsprop"), ProbePair("momentum", "rmsprop"),
    ]
    assert inclusion_pairs(["adam", "rmsprop"]) == []


def test_a_probe_trains_exactly_imitates_hyperparameters_with_the_narrow_seed_and_schedule(tmp_path):
    plan = resolve_plan(_config(tmp_path))
    best = _by_optimizer(plan)["sgd"][1]
    probe = probe_trial(best, "momentum", 7)
    lr = best.hparams["learning_rate"]
    schedule = optimizers.make_schedule(best.schedule, lr, best.steps, **best.schedule_params)
    imitation = optimizers.imitate("sgd", "momentum", best.hparams, schedule, epsilon=1e8, horizon=best.steps)
    assert probe.hparams == imitation.hparams and probe.hparams["momentum"] == 0.0
    assert probe.hparams["learning_rate"] == lr
    assert (probe.seed, probe.schedule, probe.schedule_params, probe.steps, probe.eval_every) == (
        best.seed, best.schedule, best.schedule_params, best.steps, best.eval_every
    )
    assert (probe.optimizer, probe.phase, probe.trial_index, probe.tuned) == ("momentum", "probe", 7, {})
    assert probe.trial_id == "mnist1d-mlp/lr-only/momentum/00007"


def test_an_exact_inclusion_probe_takes_no_lr_ramp(tmp_path):
    best = _by_optimizer(resolve_plan(_config(tmp_path)))["sgd"][1]
    probe = probe_trial(best, "momentum", 7)
    assert "lr_ramp" not in probe.schedule_params and probe.schedule_params == best.schedule_params


def _imitation_rates(best, wide):
    lr = best.hparams["learning_rate"]
    schedule = optimizers.make_schedule(best.schedule, lr, best.steps, **best.schedule_params)
    imitation = optimizers.imitate(best.optimizer, wide, best.hparams, schedule, epsilon=1e8, horizon=best.steps)
    return imitation, [imitation.schedule(t) for t in range(best.steps)]


@pytest.mark.parametrize(("narrow", "wide"), [("momentum", "adam"), ("nesterov", "nadam")])
@pytest.mark.parametrize("steps", [None, 400])
def test_adam_family_imitations_of_momentum_are_probed_with_the_first_moment_ramp(tmp_path, narrow, wide, steps):
    # alpha_t = eta_t * E * (1 - beta1^(t+1)) / (1 - beta1): the narrow schedule with
    # lr_ramp = beta1 and learning rate eta_0 * E / (1 - beta1), E = 1e8.
    best = _by_optimizer(resolve_plan(_config(tmp_path, f"[{narrow}, {wide}]")))[narrow][1]
    if steps is not None:
        best = best.model_copy(update={"steps": steps})
    beta1, lr = best.hparams["momentum"], best.hparams["learning_rate"]
    assert 0.0 < beta1 < 1.0 and best.schedule != "constant"
    probe = probe_trial(best, wide, 5)
    imitation, alphas = _imitation_rates(best, wide)
    assert probe.schedule_params == {**best.schedule_params, "lr_ramp": beta1}
    assert probe.hparams == {**imitation.hparams, "learning_rate": probe.hparams["learning_rate"]}
    assert probe.hparams["beta1"] == beta1 and probe.hparams["beta2"] == 0.0
    assert probe.hparams["learning_rate"] == pytest.approx(lr * 1e8 / (1.0 - beta1), rel=1e-12, abs=0.0)
    rates = optimizers.make_schedule(probe.schedule, probe.hparams["learning_rate"], probe.steps, **probe.schedule_params)
    for t, alpha in enumerate(alphas):
        assert rates(t) == pytest.approx(alpha, rel=1e-12, abs=0.0), t
    assert (probe.optimizer, probe.phase, probe.seed, probe.steps) == (wide, "probe", best.seed, best.steps)


def test_a_chain_from_sgd_into_adam_is_probed_without_a_ramp(tmp_path):
    # sgd <= momentum <= adam: beta1 = momentum = 0, so alpha_t = E * eta_t, c = E.
    best = _by_optimizer(resolve_plan(_config(tmp_path, "[sgd, adam]")))["sgd"][1]
    probe = probe_trial(best, "adam", 3)
    _, alphas = _imitation_rates(best, "adam")
    assert probe.schedule_params == best.schedule_params and probe.hparams["beta1"] == 0.0
    assert probe.hparams["learning_rate"] == pytest.approx(best.hparams["learning_rate"] * 1e8, rel=1e-12)
    rates = optimizers.make_schedule(probe.schedule, probe.hparams["learning_rate"], probe.steps, **probe.schedule_params)
    assert [rates(t) for t in range(probe.steps)] == pytest.approx(alphas, rel=1e-12, abs=0.0)


@pytest.mark.parametrize(
    ("wide", "schedule_params", "why"),
    [
        ("rmsprop", {}, "needs a constant rate; lr-only decays"),
        ("adam", {"lr_ramp": 0.5}, "the narrow ramp times beta1's is no single ramp"),
    ],
)
def test_imitations_a_named_schedule_cannot_express_are_not_probed(tmp_path, wide, schedule_params, why):
    plan = resolve_plan(_config(tmp_path, "[momentum, rmsprop, adam]"))
    best = _by_optimizer(plan)["momentum"][0]
    best = best.model_copy(update={"schedule_params": {**best.schedule_params, **schedule_params}})
    assert probe_trial(best, wide, 3) is None, why


def test_a_probe_is_planned_only_once_both_searches_finished_from_the_narrow_best(tmp_path):
    plan = resolve_plan(_config(tmp_path))
    by = _by_optimizer(plan)
    planner = plan_probes(plan, {"lr-only": "val_error"}, {})
    assert planner.max_probes == 1 and planner.outstanding()
    # Ties: index 0 and 2 share the best error; the lower index wins. A diverged trial with a
    # lower error is not eligible.
    statuses = {0: _completed(0.3), 1: {"status": "diverged", "final_val_error": 0.01}, 2: _completed(0.3)}
    for trial in by["sgd"]:
        assert planner.record(trial, statuses[trial.trial_index]) == []
    for trial in by["momentum"][:-1]:
        assert planner.record(trial, _completed(0.2)) == []
    assert planner.outstanding()
    (probe,) = planner.record(by["momentum"][-1], None)  # the wide search's last one failed
    assert probe.seed == by["sgd"][0].seed and probe.hparams["learning_rate"] == by["sgd"][0].hparams["learning_rate"]
    assert probe.trial_index == 3 and not planner.outstanding() and planner.max_probes == 0
    assert planner.take() == probe and planner.take() is None


def test_a_narrow_search_without_a_completed_trial_gets_no_probe(tmp_path):
    plan = resolve_plan(_config(tmp_path))
    planner = plan_probes(plan, {"lr-only": "val_error"}, {})
    for trial in plan:
        failed = trial.optimizer == "sgd"
        assert planner.record(trial, None if failed else _completed(0.2)) == []
    assert not planner.outstanding() and planner.take() is None
    assert planner.not_planned == ["mnist1d-mlp/lr-only/momentum/00003"]  # counted out of the plan


def test_probe_indices_follow_reruns_and_each_other_whatever_finishes_first(tmp_path):
    plan = resolve_plan(_config(tmp_path, "[sgd, momentum, nesterov, rmsprop]"))
    pairs = inclusion_pairs(["sgd", "momentum", "nesterov", "rmsprop"])
    planner = ProbePlanner(plan, pairs, {"lr-only": "val_error"}, {"lr-only": 2})
    assert sorted(planner.open.values()) == [
        "mnist1d-mlp/lr-only/momentum/00005", "mnist1d-mlp/lr-only/nesterov/00005",
        "mnist1d-mlp/lr-only/rmsprop/00005", "mnist1d-mlp/lr-only/rmsprop/00006",
    ]
    for trial in reversed(plan):
        planner.record(trial, _completed(0.1 + trial.trial_index / 10))
    # sgd <= rmsprop and momentum <= rmsprop need a constant rate: closed without a probe.
    assert sorted(t.trial_id for t in planner.ready) == [
        "mnist1d-mlp/lr-only/momentum/00005", "mnist1d-mlp/lr-only/nesterov/00005",
    ]
    assert not planner.outstanding()


def test_without_probes_the_planner_plans_nothing(tmp_path):
    plan = resolve_plan(_config(tmp_path, extra=""))
    planner = plan_probes(plan, {}, {})
    assert planner.max_probes == 0 and not planner.outstanding()


def _write(experiment, trials, errors):
    """Rows of ``trials``: completed at ``errors``, failed where an error is NaN."""
    write_rows(experiment, trials, ["failed" if math.isnan(err) else "completed" for err in errors], errors)


def test_resume_plans_a_missing_probe_once_and_never_doubles_a_recorded_one(tmp_path):
    config = _config(tmp_path)
    plan = resolve_plan(config)
    experiment = create_experiment(str(tmp_path / "r"), "pr", config, plan)
    by = _by_optimizer(plan)
    _write(experiment, by["sgd"] + by["momentum"][:2], [0.4, 0.2, 0.3, 0.5, 0.5])
    state = load_resume_state(experiment)
    assert [t.trial_id for t in state.pending] == [by["momentum"][2].trial_id]
    assert state.run.planners.probes.max_probes == 1

    _write(experiment, [by["momentum"][2]], [0.5])
    state = load_resume_state(experiment)
    (probe,) = state.pending
    assert probe.phase == "probe" and probe.trial_id == "mnist1d-mlp/lr-only/momentum/00003"
    assert probe.hparams == {**by["sgd"][1].hparams, "momentum": 0.0} and probe.seed == by["sgd"][1].seed

    _write(experiment, [probe], [0.25])
    state = load_resume_state(experiment)
    assert state.pending == [] and not state.run.planners.probes.outstanding() and state.finished == 7


def test_retrying_a_failed_narrow_trial_plans_no_second_probe(tmp_path):
    config = _config(tmp_path)
    plan = resolve_plan(config)
    experiment = create_experiment(str(tmp_path / "r"), "pr", config, plan)
    by = _by_optimizer(plan)
    _write(experiment, by["sgd"] + by["momentum"], [0.4, math.nan, 0.3, 0.5, 0.5, 0.5])
    probe = probe_trial(by["sgd"][2], "momentum", 3)
    _write(experiment, [probe], [0.3])
    state = load_resume_state(experiment, retry_failed=True)
    assert [t.trial_id for t in state.pending] == [by["sgd"][1].trial_id]
    assert state.run.planners.probes.record(by["sgd"][1], _completed(0.01)) == [] and not state.run.planners.probes.outstanding()


def test_the_book_waits_for_probes_and_hands_them_out_after_the_plan(tmp_path):
    from tuning.planners.bundles import TrialBook
    from tuning.planners.planners import Planners
    from tuning.planners.reruns import RerunPlanner

    plan = resolve_plan(_config(tmp_path))
    probes = plan_probes(plan, {"lr-only": "val_error"}, {})
    book = TrialBook(plan, lambda t: 3, Planners(reruns=RerunPlanner(plan, {}, 0), probes=probes), max_failures=0)
    assert book.max_followups == 1
    bundles = [book.next_bundle(), book.next_bundle()]
    assert book.next_bundle() is None
    for bundle in bundles:
        for member in bundle.members:
            assert book.mark_finished(member.trial_id)
            assert book.followups_outstanding()
            book.record_result(member, _completed(0.3 - 0.01 * member.trial_index))
        assert book.bundle_ended(bundle.bundle_id) == []
    assert not book.followups_outstanding() and book.has_work()
    (probe,) = book.next_bundle().members
    assert probe.phase == "probe" and probe.trial_id == "mnist1d-mlp/lr-only/momentum/00003"
    assert probe.seed == _by_optimizer(plan)["sgd"][2].seed
