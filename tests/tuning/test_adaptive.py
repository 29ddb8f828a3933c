"""Adaptive searches (tuning/planners/adaptive.py): samplers as data, one Optuna study per search, asks
bundled through the book, what finished trials are told, and studies rebuilt on resume that ask
on as the uninterrupted ones (no Ray)."""

from __future__ import annotations

import importlib.util
import math

import pytest

from optcompare.cli import main
from optcompare.schema import ADAPTIVE_SEARCHES
from optcompare.validation import FieldError
from tests.tuning.result_rows import write_rows
from tuning.commands.resume import load_resume_state
from tuning.driver.study_options import StudyOptions
from tuning.plan.adaptive_search import adaptive_searches, distributions, told
from tuning.plan.resolve import derive_seed, resolve_plan
from tuning.planners.adaptive import AdaptivePlanner
from tuning.planners.bundles import TrialBook
from tuning.spec.config import load_config
from tuning.spec.samplers import SAMPLERS, check_sampler
from tuning.store.experiment import create_experiment

HAS_CMAES = importlib.util.find_spec("cmaes") is not None
INSTALLED = [name for name in ADAPTIVE_SEARCHES if name != "cmaes" or HAS_CMAES]


def _config(tmp_path, sampler="tpe", options="", trials=8, studies=1, extra="", optimizers="[sgd]"):
    """A config of one adaptive protocol over a log, a linear and a feasible-points coordinate."""
    (tmp_path / "a.yaml").write_text(
        f"name: a\nschedule: linear_decay\nsearch: {sampler}\n{options}"
        "optimizers:\n"
        "  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}\n"
        "    decay_steps_factor: {min: 0.5, max: 1.0, scaling: linear}\n"
        "    decay_factor: {feasible_points: [0.001, 0.01, 0.1]}\n"
        "  momentum:\n    learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}\n"
        "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(
        f"name: ad\nworkloads: [{{name: mnist1d-mlp, steps: 10, eval_every: 10}}]\n"
        f"optimizers: {optimizers}\nprotocols: [a.yaml]\ntrials_per_search: {trials}\nstudies: {studies}\n"
        f"seed: 5\n{extra}"
    )
    return load_config(path)


def _objective(trial) -> float:
    """A smooth function of the point, so that adaptive samplers have something to follow."""
    return abs(math.log10(trial.hparams["learning_rate"]) + 1.5) / 3 + 0.1 * trial.schedule_params["decay_steps_factor"]


# --- samplers as data --------------------------------------------------------------------------


def test_every_search_kind_of_the_schema_is_a_registered_sampler():
    assert tuple(SAMPLERS) == ADAPTIVE_SEARCHES


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("name", INSTALLED)
def test_each_sampler_builds_from_its_default_options(name):
    import optuna

    options = check_sampler(name, None)
    sampler = SAMPLERS[name].build(SAMPLERS[name].options.model_validate(options), 3)
    assert isinstance(sampler, optuna.samplers.BaseSampler)


def test_tpe_handles_running_trials_with_a_constant_liar_by_default_and_qmc_is_halton():
    assert check_sampler("tpe", None)["constant_liar"] is True
    assert check_sampler("tpe", {"constant_liar": False, "n_startup_trials": 4}) == {
        "n_startup_trials": 4, "n_ei_candidates": 24, "multivariate": True, "group": False, "constant_liar": False,
    }
    assert check_sampler("qmc", None) == {"qmc_type": "halton", "scramble": True}
    assert check_sampler("quasirandom", None) == {}


@pytest.mark.skipif(HAS_CMAES, reason="cmaes is installed")
def test_a_sampler_whose_package_is_missing_is_refused_naming_it():
    with pytest.raises(FieldError, match="needs the Python package 'cmaes'"):
        check_sampler("cmaes", None)


def test_one_distribution_per_coordinate_in_its_scaling():
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    space = {
        "learning_rate": {"min": 1e-3, "max": 1.0, "scaling": "log"},
        "decay_steps_factor": {"min": 0.5, "max": 1.0, "scaling": "linear"},
        "decay_factor": {"feasible_points": [0.001, 0.01]},
    }
    assert distributions(space) == {
        "decay_factor": CategoricalDistribution([0.001, 0.01]),
        "decay_steps_factor": FloatDistribution(0.5, 1.0),
        "learning_rate": FloatDistribution(1e-3, 1.0, log=True),
    }


TOLD = [
    ("completed", 0.25, "val_error", False, ("COMPLETE", 0.25)),
    ("diverged", 0.9, "val_error", False, ("COMPLETE", 1.0)),
    ("diverged", None, "train_loss", False, ("COMPLETE", math.inf)),
    ("diverged", None, "train_loss", True, ("FAIL", None)),
    ("completed", math.nan, "val_error", False, ("COMPLETE", 1.0)),
    ("failed", None, "val_error", False, ("FAIL", None)),
]


@pytest.mark.parametrize(("status", "value", "select", "finite_only", "expected"), TOLD)
def test_what_a_finished_trial_is_told(status, value, select, finite_only, expected):
    assert told(status, value, select, finite_only=finite_only) == expected


# --- asking through the book --------------------------------------------------------------------


def _book(config, size=1, trials=None):
    options = StudyOptions.from_config(config)
    plan = resolve_plan(config) if trials is None else trials
    planners = options.planners(plan)
    book = TrialBook(plan, lambda t: size, planners, max_failures=2)
    return book, planners.adaptive


def _finish(book, bundle, status="completed"):
    for member in bundle.members:
        assert book.mark_finished(member.trial_id)
        book.record_result(member, {"status": status, "final_val_error": _objective(member)})
    assert book.bundle_ended(bundle.bundle_id) == []


def test_an_adaptive_protocol_plans_nothing_up_front_and_its_trials_are_planned_ones(tmp_path):
    config = _config(tmp_path, trials=5, studies=2, optimizers="[sgd, momentum]")
    assert resolve_plan(config) == []
    book, planner = _book(config, size=2)
    assert book.max_followups == 2 * 2 * 5 and book.max_bundles([]) == 2 * 2 * 3
    seen = []
    while (bundle := book.next_bundle()) is not None:
        assert len({(m.optimizer, m.study) for m in bundle.members}) == 1  # one search per bundle
        assert len(bundle.members) <= 2 and bundle.fresh == len(bundle.members)
        seen.extend(bundle.members)
        _finish(book, bundle)
    assert not book.has_work()
    assert len(seen) == 20 and len({t.trial_id for t in seen}) == 20
    for trial in seen:
        search = config.protocols[0].for_optimizer(trial.optimizer)
        names = (trial.workload, trial.protocol, trial.optimizer)
        study = (f"s{trial.study}",) if trial.study else ()
        assert trial.trial_id == "/".join([*names, *study, f"{trial.trial_index:05d}"])
        assert trial.seed == derive_seed(config.seed, *names, *study, trial.trial_index, "train")
        assert (trial.hparams, trial.schedule_params) == search.resolve(trial.tuned)
        assert (trial.phase, trial.stage, trial.steps) == ("search", "final", 10)
        assert set(trial.tuned) == set(search.space)
        if trial.optimizer == "sgd":
            assert 1e-3 <= trial.tuned["learning_rate"] <= 1.0
            assert trial.tuned["decay_factor"] in (0.001, 0.01, 0.1)
    by_search = {}
    for trial in seen:
        by_search.setdefault((trial.optimizer, trial.study), []).append(trial.trial_index)
    assert all(sorted(indices) == [0, 1, 2, 3, 4] for indices in by_search.values())
    # Every finished trial was told, in ask order = trial index = Optuna's trial number.
    for track, study in planner.studies.items():
        values = [t.value for t in study.study.trials]
        expected = {t.trial_index: _objective(t) for t in seen if (t.optimizer, t.study) == (track.key.optimizer, track.study)}
        assert values == [expected[i] for i in range(5)]


def test_a_bundle_of_b_asks_b_points_at_once_and_the_cap_limits_asks(tmp_path):
    config = _config(tmp_path, trials=10, optimizers="[sgd]")
    book, planner = _book(config, size=4)
    first = book.next_bundle()
    assert [m.trial_index for m in first.members] == [0, 1, 2, 3]
    study = next(iter(planner.studies.values()))
    assert [t.state.name for t in study.study.trials] == ["RUNNING"] * 4  # pending while they run
    capped = book.next_bundle(fresh_allowed=3)
    assert [m.trial_index for m in capped.members] == [4, 5, 6]
    assert book.next_bundle(fresh_allowed=0) is None and study.asked == 7


def test_planned_trials_go_first_then_asks(tmp_path):
    config = _config(tmp_path, trials=3)
    (tmp_path / "q.yaml").write_text(
        "name: q\nschedule: constant\noptimizers:\n  sgd: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}}\n"
    )
    (tmp_path / "c.yaml").write_text((tmp_path / "c.yaml").read_text().replace("[a.yaml]", "[q.yaml, a.yaml]"))
    config = load_config(tmp_path / "c.yaml")
    plan = resolve_plan(config)
    assert {t.protocol for t in plan} == {"q"} and len(plan) == 3
    book, _ = _book(config, size=8)
    assert [m.protocol for m in book.next_bundle().members] == ["q"] * 3
    assert [m.protocol for m in book.next_bundle().members] == ["a"] * 3


def test_a_retry_runs_the_same_point_and_asks_nothing(tmp_path):
    config = _config(tmp_path, trials=4)
    book, planner = _book(config, size=2)
    bundle = book.next_bundle()
    assert book.bundle_failed(bundle.bundle_id) == []
    retry = book.next_bundle()
    assert retry.members == bundle.members and retry.attempts == (1, 1) and retry.fresh == 0
    study = next(iter(planner.studies.values()))
    assert study.asked == 2
    assert book.bundle_failed(retry.bundle_id) == []  # last attempts: each alone
    for member in bundle.members:
        last = book.next_bundle()
        assert last.members == (member,) and last.attempts == (2,)
        assert book.bundle_failed(last.bundle_id) == [member]  # out of attempts
        book.mark_finished(member.trial_id)
        book.record_result(member, None)
    assert study.asked == 2
    assert [t.state.name for t in study.study.trials] == ["FAIL", "FAIL"]


def test_a_diverged_trial_is_told_the_worst_value(tmp_path):
    config = _config(tmp_path, trials=2)
    book, planner = _book(config, size=2)
    bundle = book.next_bundle()
    _finish(book, bundle, status="diverged")
    study = next(iter(planner.studies.values()))
    assert [(t.state.name, t.value) for t in study.study.trials] == [("COMPLETE", 1.0), ("COMPLETE", 1.0)]


def test_reruns_of_an_adaptive_search_follow_its_last_ask(tmp_path):
    config = _config(tmp_path, trials=3, options="rerun_best: {seeds: 2}\n")
    book, _ = _book(config, size=1)
    assert book.max_followups == 3 + 2
    trials = []
    while (bundle := book.next_bundle()) is not None:
        trials.extend(bundle.members)
        _finish(book, bundle)
    search = [t for t in trials if t.phase == "search"]
    best = min(search, key=lambda t: (_objective(t), t.trial_index))
    reruns = [t for t in trials if t.phase == "rerun"]
    assert [t.trial_index for t in reruns] == [3, 4] and all(t.tuned == best.tuned for t in reruns)


def test_bundle_sizes_come_from_stand_ins_at_halton_points(tmp_path):
    config = _config(tmp_path, trials=6)
    (search,) = adaptive_searches(config)
    stand_ins = search.stand_ins()
    assert [t.trial_index for t in stand_ins] == list(range(6))
    assert len({t.hparams["learning_rate"] for t in stand_ins}) == 6


# --- resume ------------------------------------------------------------------------------------


def _uninterrupted(config, count):
    """One slot: ask, train (the objective), tell, ``count`` times; the trials in ask order."""
    book, _ = _book(config, size=1)
    trials = []
    for _ in range(count):
        bundle = book.next_bundle()
        trials.extend(bundle.members)
        index = bundle.members[0].trial_index
        _finish(book, bundle, status=STATUSES.get(index, "completed"))
    return trials


STATUSES = {1: "diverged"}
"""Trial index -> status other than completed in the resume tests."""

RESUME_OPTIONS = {
    "tpe": "sampler_options: {n_startup_trials: 3}\n",
    "gp": "sampler_options: {n_startup_trials: 3}\n",
    "cmaes": "sampler_options: {popsize: 4}\n",
    "random": "",
    "qmc": "",
}


@pytest.mark.parametrize("sampler", INSTALLED)
def test_a_resumed_study_asks_the_points_of_the_uninterrupted_one(tmp_path, sampler):
    config = _config(tmp_path, sampler=sampler, options=RESUME_OPTIONS[sampler], trials=12)
    reference = _uninterrupted(config, 12)
    done = reference[:7]
    experiment = create_experiment(str(tmp_path / "r"), "ad", config, resolve_plan(config))
    write_rows(experiment, done, [STATUSES.get(t.trial_index, "completed") for t in done], [_objective(t) for t in done])

    state = load_resume_state(experiment)
    assert state.pending == [] and state.finished == 7
    assert state.run.planners.adaptive.max_asks == 5
    book = TrialBook([], lambda t: 1, state.run.planners, max_failures=1)
    resumed = []
    while (bundle := book.next_bundle()) is not None:
        resumed.extend(bundle.members)
        _finish(book, bundle)
    assert [t.trial_id for t in resumed] == [t.trial_id for t in reference[7:]]
    assert [t.tuned for t in resumed] == [t.tuned for t in reference[7:]]
    assert [t.seed for t in resumed] == [t.seed for t in reference[7:]]


def test_resume_asks_a_lost_index_again_and_retries_a_failed_point(tmp_path):
    config = _config(tmp_path, sampler="random", trials=6)
    reference = _uninterrupted(config, 5)
    experiment = create_experiment(str(tmp_path / "r"), "ad", config, resolve_plan(config))
    # Index 2 was running when the driver stopped (no row); index 3 failed.
    rows = [reference[i] for i in (0, 1, 3, 4)]
    write_rows(experiment, rows, ["completed", "completed", "failed", "completed"], [0.5, 0.4, math.nan, 0.3])

    state = load_resume_state(experiment)
    assert [t.trial_index for t in state.pending] == [2] and state.run.planners.adaptive.max_asks == 1
    (study,) = state.run.planners.adaptive.studies.values()
    assert [t.state.name for t in study.study.trials] == ["COMPLETE", "COMPLETE", "RUNNING", "FAIL", "COMPLETE"]
    assert study.study.trials[2].params == state.pending[0].tuned

    state = load_resume_state(experiment, retry_failed=True)
    assert sorted(t.trial_index for t in state.pending) == [2, 3]
    retried = next(t for t in state.pending if t.trial_index == 3)
    assert retried == reference[3]  # the same point, id and seed
    assert state.run.attempt_offsets[retried.trial_id] == 1


# --- plan and configs ---------------------------------------------------------------------------


def test_plan_shows_adaptive_searches_with_their_trials(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    _config(tmp_path, trials=7, studies=2)
    assert main(["plan", str(tmp_path / "c.yaml"), "--sample", "0"]) == 0
    out = capsys.readouterr().out
    assert "0 planned trials + 14 asked by adaptive searches" in out
    assert "adaptive, 14 trials" in out


def test_the_samplers_config_loads_and_plans():
    config = load_config("tuning/configs/samplers.yaml")
    assert [p.name for p in config.protocols] == ["choi-full", "choi-full-tpe", "choi-full-random"]
    assert [p.search for p in config.protocols] == ["quasirandom", "tpe", "random"]
    assert config.optimizers == ["momentum", "adam"] and config.studies == 3
    assert [w.name for w in config.workloads] == ["mnist1d-mlp"]
    plan = resolve_plan(config)
    assert len(plan) == 2 * 3 * config.trials_per_search and {t.protocol for t in plan} == {"choi-full"}
    searches = adaptive_searches(config)
    assert len(searches) == 2 * 2 * 3
    assert {(s.sampler, s.budget) for s in searches} == {("tpe", config.trials_per_search), ("random", config.trials_per_search)}
    assert len({s.seed for s in searches}) == len(searches)
    planner = AdaptivePlanner(searches)
    assert planner.max_asks == 2 * 2 * 3 * config.trials_per_search
