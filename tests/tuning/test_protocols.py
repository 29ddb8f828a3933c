"""Protocols as data (tuning/spec/protocol.py, tuning/spec/search.py): the shipped protocols, resolving
tuned coordinates to hyperparameters, and a protocol that stays as it was read."""

from __future__ import annotations

import pytest

import optimizers
from optcompare.coordinates import to_coordinates
from optcompare.errors import InputError
from tests.tuning.file_texts import write
from tuning.plan.quasirandom import sample
from tuning.plan.resolve import search_points
from tuning.spec.config import load_config
from tuning.spec.protocol import load_protocol, parse_protocol
from tuning.spec.protocol_files import shipped_protocols

SHIPPED = ("choi-full", "lr-only")
"""The quasi-random, linear-decay protocols of the widening study."""
ALL_SHIPPED = {
    "choi-full", "choi-two-stage", "choi-full-tpe", "choi-full-random", "lr-only", "wilson2017",
    "deepobs2019", "playbook-adam", "modern-wide", "algoperf-external",
}


# --- shipped protocols ------------------------------------------------------------------------


def test_shipped_protocol_names():
    assert set(shipped_protocols()) == ALL_SHIPPED
    assert shipped_protocols() == sorted(ALL_SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_protocol_loads_and_every_builtin_optimizer_resolves(name):
    protocol = load_protocol(name)
    assert protocol.name == name
    assert protocol.schedule == "linear_decay"
    assert protocol.search == "quasirandom"
    assert protocol.select == "val_error"
    builtin = [n for n in optimizers.names() if not optimizers.get_spec(n).constant_schedule]
    assert set(builtin) == {"sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam", "adamw", "nadamw", "lion", "muon", "soap"}
    for opt in builtin:
        search = protocol.for_optimizer(opt)
        assert search.optimizer == opt
        points = sample(search.space, 16, 0) if search.space else [{}]
        for point in points:
            hparams, schedule = search.resolve(point)
            # Every resolved point is a valid optimizer/schedule setting.
            assert optimizers.validate_hparams(opt, hparams) == hparams
            optimizers.make_schedule(search.schedule, hparams["learning_rate"], 100, **schedule)
            assert set(hparams) == set(optimizers.get_spec(opt).defaults)
            assert set(schedule) == {"decay_steps_factor", "decay_factor"}


def test_the_paper_protocol_is_choi_full_in_two_stages():
    staged, baseline = load_protocol("choi-two-stage"), load_protocol("choi-full")
    assert staged.raw["optimizers"] == baseline.raw["optimizers"]
    assert staged.searches == baseline.searches
    assert [(s.name, s.fraction) for s in staged.stages] == [("initial", 0.5), ("final", 0.5)]
    assert staged.stages[0].rule() is None
    rule = staged.stages[1].rule()
    assert (rule.fraction, rule.margin, rule.edge) == (0.25, 0.5, 0.05)
    assert baseline.stages == ()


@pytest.mark.parametrize(("name", "sampler"), [("choi-full-tpe", "tpe"), ("choi-full-random", "random")])
def test_the_sampler_protocols_search_choi_full_spaces(name, sampler):
    adaptive, baseline = load_protocol(name), load_protocol("choi-full")
    assert adaptive.search == sampler and baseline.search == "quasirandom"
    assert adaptive.raw["optimizers"] == baseline.raw["optimizers"]
    assert {o: s.space for o, s in adaptive.searches.items()} == {o: s.space for o, s in baseline.searches.items()}
    assert {o: s.fixed for o, s in adaptive.searches.items()} == {o: s.fixed for o, s in baseline.searches.items()}
    assert (adaptive.schedule, adaptive.select, adaptive.stages) == (baseline.schedule, baseline.select, ())
    if sampler == "tpe":
        assert adaptive.sampler_options["constant_liar"] is True
        assert adaptive.sampler_options["n_startup_trials"] == 10


def test_lr_only_fixes_everything_but_the_learning_rate():
    protocol = load_protocol("lr-only")
    for opt in ("sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam"):  # its entries; others: their default search
        search = protocol.for_optimizer(opt)
        assert set(search.space) == {"learning_rate"}
    adam, _ = protocol.for_optimizer("adam").resolve({"learning_rate": 1e-3})
    assert adam == {
        "learning_rate": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
        "decoupled_weight_decay": 0.0,
    }
    rms, _ = protocol.for_optimizer("rmsprop").resolve({"learning_rate": 1e-3})
    assert rms["epsilon"] == 1e-10
    assert rms["momentum"] == 0.9
    mom, sched = protocol.for_optimizer("momentum").resolve({"learning_rate": 0.1})
    assert mom["momentum"] == 0.9
    assert sched == {"decay_steps_factor": 1.0, "decay_factor": 0.01}


def test_choi_full_uses_relative_space_for_adam_and_nadam():
    protocol = load_protocol("choi-full")
    for opt in ("adam", "nadam"):
        space = protocol.for_optimizer(opt).space
        assert "learning_rate_over_epsilon" in space
        assert "learning_rate" not in space
        assert {"one_minus_beta1", "one_minus_beta2", "epsilon"} <= set(space)
    assert "one_minus_rho" in protocol.for_optimizer("rmsprop").space


def _inside(dim: dict, value: float) -> bool:
    if "feasible_points" in dim:
        return any(value == pytest.approx(p, rel=1e-9) for p in dim["feasible_points"])
    low, high = dim["min"], dim["max"]
    return low - 1e-9 * abs(low) <= value <= high + 1e-9 * abs(high)


@pytest.mark.parametrize("opt", sorted(load_protocol("lr-only").raw["optimizers"]))
def test_choi_full_space_contains_lr_only_space(opt):
    # The widening study compares lr-only with choi-full: every lr-only setting must be a
    # choi-full setting too (in the optimizer's hyperparameters; schedules compared when the
    # protocols share one).
    narrow = load_protocol("lr-only").for_optimizer(opt)
    wide = load_protocol("choi-full").for_optimizer(opt)
    same_schedule = narrow.schedule == wide.schedule
    ends = [
        {k: d[side] for k, d in narrow.space.items() if side in d} for side in ("min", "max")
    ]
    for point in [*ends, *search_points(narrow, 64, seed=0)]:
        hparams, schedule = narrow.resolve(point)
        coords = to_coordinates(
            (*wide.fixed, *wide.space), hparams, schedule if same_schedule else None, wide.schedule_params
        )
        for key, value in coords.items():
            if key in wide.fixed:
                assert value == pytest.approx(wide.fixed[key], rel=1e-9), (opt, key, point)
            else:
                assert _inside(wide.space[key], value), (
                    f"{opt}: lr-only point {point} needs choi-full {key}={value:.4g}, outside "
                    f"{wide.space[key]}"
                )
        wide_hparams, wide_schedule = wide.resolve({k: v for k, v in coords.items() if k in wide.space})
        assert wide_hparams == pytest.approx(hparams, rel=1e-9)
        if same_schedule:
            assert wide_schedule == pytest.approx(schedule, rel=1e-9)


def test_unknown_optimizer_in_protocol_lookup_names_choices():
    protocol = load_protocol("lr-only")
    with pytest.raises(InputError, match=r"lr-only.*no search space for optimizer 'lamb'"):
        protocol.for_optimizer("lamb")


# --- resolving tuned coordinates --------------------------------------------------------------


def test_resolve_one_minus_and_relative_learning_rate():
    search = load_protocol("choi-full").for_optimizer("adam")
    point = {
        "learning_rate_over_epsilon": 100.0,
        "epsilon": 1e-3,
        "one_minus_beta1": 0.1,
        "one_minus_beta2": 1e-3,
        "decay_steps_factor": 0.75,
        "decay_factor": 0.01,
    }
    hparams, schedule = search.resolve(point)
    assert hparams["beta1"] == pytest.approx(0.9)
    assert hparams["beta2"] == pytest.approx(0.999)
    assert hparams["epsilon"] == 1e-3
    assert hparams["learning_rate"] == pytest.approx(100.0 * 1e-3)
    assert hparams["weight_decay"] == 0.0  # default fills what the protocol does not mention
    assert "learning_rate_over_epsilon" not in hparams
    assert "one_minus_beta1" not in hparams
    assert schedule == {"decay_steps_factor": 0.75, "decay_factor": 0.01}


def test_resolve_one_minus_momentum_and_rho():
    search = load_protocol("choi-full").for_optimizer("rmsprop")
    hparams, _ = search.resolve(
        {
            "learning_rate": 0.01,
            "one_minus_momentum": 0.1,
            "one_minus_rho": 0.01,
            "epsilon": 1e-6,
            "decay_steps_factor": 1.0,
            "decay_factor": 0.1,
        }
    )
    assert hparams["momentum"] == pytest.approx(0.9)
    assert hparams["rho"] == pytest.approx(0.99)
    assert hparams["learning_rate"] == 0.01


def test_resolve_relative_learning_rate_with_fixed_epsilon(tmp_path):
    path = write(
        tmp_path,
        "rel.yaml",
        """\
        name: rel
        schedule: constant
        optimizers:
          adam:
            learning_rate_over_epsilon: {min: 1.0, max: 1.0e4, scaling: log}
            epsilon: 1.0e-4
            one_minus_beta1: 0.1
        """,
    )
    search = load_protocol(str(path)).for_optimizer("adam")
    assert search.fixed == {"epsilon": 1e-4, "one_minus_beta1": 0.1}
    hparams, schedule = search.resolve({"learning_rate_over_epsilon": 50.0})
    assert hparams["learning_rate"] == pytest.approx(50.0 * 1e-4)
    assert hparams["beta1"] == pytest.approx(0.9)
    assert hparams["beta2"] == 0.999  # default
    assert schedule == {}


def test_resolve_relative_learning_rate_with_default_epsilon(tmp_path):
    path = write(
        tmp_path,
        "reldefault.yaml",
        """\
        name: reldefault
        schedule: constant
        optimizers:
          adam:
            learning_rate_over_epsilon: {min: 1.0e3, max: 1.0e6, scaling: log}
        """,
    )
    search = load_protocol(str(path)).for_optimizer("adam")
    hparams, _ = search.resolve({"learning_rate_over_epsilon": 1e5})
    assert hparams["epsilon"] == 1e-8
    assert hparams["learning_rate"] == pytest.approx(1e-3)


def test_fixed_values_pass_through_and_defaults_fill(tmp_path):
    path = write(
        tmp_path,
        "fixed.yaml",
        """\
        name: fixed
        schedule: linear_decay
        optimizers:
          momentum:
            learning_rate: 0.05
            momentum: 0.5
            decay_steps_factor: 0.9
            decay_factor: 0.001
          sgd:
            learning_rate: {feasible_points: [0.1, 0.2]}
            weight_decay: 1.0e-4
            decay_steps_factor: 1
            decay_factor: 0.5
        """,
    )
    protocol = load_protocol(str(path))
    mom = protocol.for_optimizer("momentum")
    assert mom.space == {}
    hparams, schedule = mom.resolve({})
    assert hparams == {
        "learning_rate": 0.05, "momentum": 0.5, "weight_decay": 0.0, "decoupled_weight_decay": 0.0
    }
    assert schedule == {"decay_steps_factor": 0.9, "decay_factor": 0.001}
    sgd = protocol.for_optimizer("sgd")
    hparams, schedule = sgd.resolve({"learning_rate": 0.2})
    assert hparams == {"learning_rate": 0.2, "weight_decay": 1e-4, "decoupled_weight_decay": 0.0}
    assert all(isinstance(v, float) for v in (*hparams.values(), *schedule.values()))
    assert schedule == {"decay_steps_factor": 1.0, "decay_factor": 0.5}


# --- a protocol stays as it was read -------------------------------------------------------------


def test_a_protocol_is_frozen_and_lookups_do_not_write_into_it(user_plugin):
    import pydantic

    from tuning.spec.plugins import load_plugins

    load_plugins([user_plugin])
    protocol = load_protocol("lr-only")
    before = protocol.model_dump()
    search = protocol.for_optimizer("plain-adagrad")  # the registered default space
    assert "plain-adagrad" not in protocol.searches
    assert protocol.model_dump() == before
    assert protocol.for_optimizer("plain-adagrad") == search
    with pytest.raises(pydantic.ValidationError):
        protocol.name = "other"  # type: ignore[misc]
    bound = protocol.bound(["sgd", "plain-adagrad"])
    assert bound.searches["plain-adagrad"] == search and bound.searches["sgd"] == protocol.searches["sgd"]
    assert "plain-adagrad" not in protocol.searches


def test_a_config_binds_each_protocol_to_its_optimizers(tmp_path, user_plugin):
    config = write(
        tmp_path, "exp.yaml",
        f"name: exp\nplugins: [{user_plugin}]\nworkloads: [mnist1d-mlp]\noptimizers: [sgd, plain-adagrad]\n"
        "protocols: [lr-only]\ntrials_per_search: 2\n",
    )
    (protocol,) = load_config(config).protocols
    assert protocol.searches["plain-adagrad"] == load_protocol("lr-only").for_optimizer("plain-adagrad")


def test_algoperf_external_carries_the_baselines_spaces_with_warm_up_and_cosine_to_zero():
    protocol = load_protocol("algoperf-external")
    assert protocol.schedule == "cosine_decay" and sorted(protocol.searches) == ["adam", "adamw", "momentum", "nadamw"]
    assert protocol.schedules == {"schedule-free-adamw": "constant", "momentum": "linear_decay"}
    momentum = protocol.for_optimizer("momentum")  # AlgoPerf's momentum baseline
    assert momentum.schedule == "linear_decay" and momentum.space["learning_rate"] == {"min": 2e-2, "max": 5.0, "scaling": "log"}
    assert momentum.space["weight_decay"] == {"min": 1e-7, "max": 5e-5, "scaling": "log"}
    assert momentum.space["decay_factor"] == {"feasible_points": [1e-3, 1e-2]}
    assert momentum.fixed == {"warmup_steps_factor": 0.05, "decay_steps_factor": 0.9}
    assert protocol.ruleset is not None and protocol.ruleset.model_dump() == {
        "score": "median_study_best_steps", "trials_per_study": 5, "studies": 3}
    assert protocol.ruleset_warnings(5, 3) == []
    (warning,) = protocol.ruleset_warnings(4, 3)
    assert "runs 4 and 3" in warning and "set trials_per_search: 5 and studies: 3" in warning
    nadamw = protocol.for_optimizer("nadamw")
    assert nadamw.space["learning_rate"] == {"min": 1e-4, "max": 1e-2, "scaling": "log"}
    assert nadamw.space["one_minus_beta1"] == {"min": 4e-3, "max": 0.1, "scaling": "log"}
    assert nadamw.space["decoupled_weight_decay"] == {"min": 5e-3, "max": 1.0, "scaling": "log"}
    assert nadamw.fixed == {"beta2": 0.999, "warmup_steps_factor": 0.05, "decay_steps_factor": 1.0, "decay_factor": 0.0}
    adamw = protocol.for_optimizer("adamw")
    assert adamw.fixed["beta1"] == 0.9 and "one_minus_beta1" not in adamw.space
    hparams, schedule = nadamw.resolve({"learning_rate": 1e-3, "one_minus_beta1": 0.01, "decoupled_weight_decay": 0.1})
    assert hparams["beta1"] == pytest.approx(0.99) and schedule == {"warmup_steps_factor": 0.05, "decay_steps_factor": 1.0, "decay_factor": 0.0}
    rate = optimizers.make_schedule("cosine_decay", 1e-3, 100, **schedule)
    assert rate(0) == pytest.approx(1e-3 * (1 / 5)) and rate(99) < 1e-6  # warm-up over 5 steps, cosine to 0


def test_modern_wide_tunes_every_library_optimizer_with_cosine_decay_and_schedule_free_with_a_constant_rate():
    protocol = load_protocol("modern-wide")
    assert protocol.schedule == "cosine_decay" and protocol.schedules == {"schedule-free-adamw": "constant"}
    for name in ("adamw", "nadamw", "lion", "muon", "soap"):
        search = protocol.for_optimizer(name)
        assert search.schedule == "cosine_decay"
        assert {"learning_rate", "decoupled_weight_decay", "warmup_steps_factor", "decay_factor"} <= set(search.space)
    free = protocol.for_optimizer("schedule-free-adamw")
    assert free.schedule == "constant" and protocol.schedule_for("schedule-free-adamw") == "constant"
    assert {"learning_rate", "warmup_steps_factor"} <= set(free.space) and "decay_factor" not in free.space
    hparams, _ = protocol.for_optimizer("soap").resolve({
        "learning_rate": 1e-3, "one_minus_beta1": 0.1, "one_minus_beta2": 0.01, "one_minus_shampoo_beta": 0.05,
        "epsilon": 1e-8, "decoupled_weight_decay": 0.01, "warmup_steps_factor": 0.1, "decay_steps_factor": 1.0,
        "decay_factor": 0.01,
    })
    assert hparams["shampoo_beta"] == pytest.approx(0.95) and hparams["beta2"] == pytest.approx(0.99)


def test_a_constant_schedule_optimizer_is_refused_under_a_decaying_schedule_unless_schedules_names_it(tmp_path):
    with pytest.raises(InputError, match=r"averages its iterates in place of a decaying schedule.*schedules: \{schedule-free-adamw: constant\}"):
        load_protocol("lr-only").for_optimizer("schedule-free-adamw")
    assert load_protocol("algoperf-external").for_optimizer("schedule-free-adamw").schedule == "constant"
    raw = {
        "name": "mine", "schedule": "cosine_decay", "schedules": {"schedule-free-adamw": "constant"},
        "optimizers": {"adamw": {"learning_rate": 1e-3, "decay_steps_factor": 1.0, "decay_factor": 0.0}},
    }
    protocol = parse_protocol(raw, "mine.yaml")
    free = protocol.bound(["adamw", "schedule-free-adamw"]).searches["schedule-free-adamw"]
    assert free.schedule == "constant" and "decay_factor" not in free.space and "decay_factor" not in free.fixed
    with pytest.raises(InputError, match=r"mine.yaml: schedules: no optimizer 'schedule-fre'; registered: .*adamw"):
        parse_protocol({**raw, "schedules": {"schedule-fre": "constant"}}, "mine.yaml")
    with pytest.raises(InputError, match=r"schedules\.schedule-free-adamw.*'cosine'"):
        parse_protocol({**raw, "schedules": {"schedule-free-adamw": "cosine"}}, "mine.yaml")
