"""Protocols and experiment configs as data (tuning/protocol.py, tuning/config.py, yaml_io.py).

Bad user input must raise ``optcompare.errors.InputError`` (a ValueError) whose message names the
file, the field path and what is allowed.
"""

from __future__ import annotations

import copy
import math
import textwrap
from pathlib import Path

import pytest
import yaml

import optimizers
from optcompare.cli import main
from optcompare.errors import InputError
from tuning.config import load_config
from tuning.plan import search_points
from tuning.protocol import ONE_MINUS, RELATIVE_LR, SearchSpec, load_protocol, shipped_protocols
from tuning.quasirandom import sample
from tuning.yaml_io import read_yaml

SHIPPED = ("choi-full", "lr-only")
"""The quasi-random, linear-decay protocols of the widening study."""
ALL_SHIPPED = {"choi-full", "lr-only", "wilson2017", "deepobs2019", "playbook-adam"}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


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
    builtin = optimizers.names()
    assert set(builtin) == {"sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam"}
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


def test_lr_only_fixes_everything_but_the_learning_rate():
    protocol = load_protocol("lr-only")
    for opt in optimizers.names():
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


def _to_coordinates(
    search: SearchSpec, hparams: dict[str, float], schedule: dict[str, float] | None
) -> dict[str, float]:
    """The tuned coordinates of ``search`` that resolve to ``hparams`` (and ``schedule``, unless
    None): the inverse of SearchSpec.resolve."""
    coords: dict[str, float] = {}
    for key in (*search.fixed, *search.space):
        if key in search.schedule_params:
            if schedule is not None:
                coords[key] = schedule[key]
        elif key in ONE_MINUS:
            coords[key] = 1.0 - hparams[ONE_MINUS[key]]
        elif key == RELATIVE_LR:
            coords[key] = hparams["learning_rate"] / hparams["epsilon"]
        else:
            coords[key] = hparams[key]
    return coords


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
        coords = _to_coordinates(wide, hparams, schedule if same_schedule else None)
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
    path = _write(
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
    path = _write(
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
    path = _write(
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


def test_protocol_path_relative_to_config_dir(tmp_path):
    sub = tmp_path / "protocols"
    sub.mkdir()
    _write(
        sub,
        "mine.yaml",
        """\
        name: mine
        schedule: constant
        optimizers:
          sgd: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}}
        """,
    )
    config = _write(
        tmp_path,
        "exp.yaml",
        """\
        name: exp
        workloads: [mnist1d-mlp]
        optimizers: [sgd]
        protocols: [protocols/mine.yaml, lr-only]
        trials_per_search: 2
        """,
    )
    loaded = load_config(config)
    assert [p.name for p in loaded.protocols] == ["mine", "lr-only"]
    assert loaded.seed == 0
    assert loaded.resources.cpus_per_trial == 1.0
    assert loaded.resources.gpus_per_trial == 0.0
    assert loaded.resources.max_concurrent_trials is None
    assert loaded.max_failures == 2


# --- YAML numbers -----------------------------------------------------------------------------


def test_yaml_exponent_numbers_are_floats(tmp_path):
    path = _write(
        tmp_path,
        "nums.yaml",
        """\
        a: 1e-3
        b: 1.0e4
        c: 1E5
        d: -2.5e-7
        e: 3
        f: .5
        g: 1.0
        h: "1e-3"
        i: 1e3x
        j: .inf
        """,
    )
    data = read_yaml(path)
    assert data["a"] == 1e-3 and isinstance(data["a"], float)
    assert data["b"] == 1e4 and isinstance(data["b"], float)
    assert data["c"] == 1e5 and isinstance(data["c"], float)
    assert data["d"] == -2.5e-7 and isinstance(data["d"], float)
    assert data["e"] == 3 and isinstance(data["e"], int)
    assert data["f"] == 0.5 and isinstance(data["f"], float)
    assert data["g"] == 1.0 and isinstance(data["g"], float)
    assert data["h"] == "1e-3"  # quoted stays a string
    assert data["i"] == "1e3x"
    assert math.isinf(data["j"])


def test_yaml_signed_leading_dot_floats(tmp_path):
    path = _write(tmp_path, "signed.yaml", "a: -.5\nb: +.5\n")
    assert read_yaml(path) == {"a": -0.5, "b": 0.5}


def test_yaml_exponent_in_protocol_range(tmp_path):
    path = _write(
        tmp_path,
        "exp.yaml",
        """\
        name: exp
        schedule: constant
        optimizers:
          sgd: {learning_rate: {min: 1e-4, max: 1e1, scaling: log}}
        """,
    )
    space = load_protocol(str(path)).for_optimizer("sgd").space
    assert space["learning_rate"] == {"min": 1e-4, "max": 10.0, "scaling": "log"}


# --- broken protocol files --------------------------------------------------------------------

GOOD_SGD = """\
  sgd:
    learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}
    decay_steps_factor: 1.0
    decay_factor: 0.01
"""


def _protocol(body: str, head: str = "name: broken\nschedule: linear_decay\n") -> str:
    return head + "optimizers:\n" + body


BROKEN_PROTOCOLS = {
    "unknown top-level key": (
        "name: broken\nschedule: linear_decay\nbudget: 3\noptimizers:\n" + GOOD_SGD,
        ["unknown key 'budget'", "allowed:", "optimizers"],
    ),
    "missing name": (
        "schedule: linear_decay\noptimizers:\n" + GOOD_SGD,
        ["missing required key 'name'"],
    ),
    "missing schedule": (
        "name: broken\noptimizers:\n" + GOOD_SGD,
        ["missing required key 'schedule'"],
    ),
    "missing optimizers": (
        "name: broken\nschedule: linear_decay\n",
        ["missing required key 'optimizers'"],
    ),
    "empty optimizers": (
        "name: broken\nschedule: linear_decay\noptimizers: {}\n",
        ["optimizers: expected a mapping"],
    ),
    "unknown schedule": (
        "name: broken\nschedule: cosine\noptimizers:\n" + GOOD_SGD,
        ["schedule: 'cosine' is not one of", "constant", "linear_decay"],
    ),
    "unknown search kind": (
        "name: broken\nschedule: linear_decay\nsearch: bayesian\noptimizers:\n" + GOOD_SGD,
        ["search: 'bayesian' is not one of quasirandom, grid"],
    ),
    "unknown select metric": (
        "name: broken\nschedule: linear_decay\nselect: test_error\noptimizers:\n" + GOOD_SGD,
        ["select: 'test_error' is not one of val_error, train_loss"],
    ),
    "unknown optimizer": (
        _protocol("  lamb:\n    learning_rate: 0.1\n"),
        ["optimizers.lamb: unknown optimizer", "valid choices:", "sgd", "nadam"],
    ),
    "optimizer entry not a mapping": (
        _protocol("  sgd: 0.1\n"),
        ["optimizers.sgd: expected a mapping"],
    ),
    "beta1 under sgd": (
        _protocol(GOOD_SGD + "    beta1: 0.9\n"),
        ["optimizers.sgd.beta1: not a hyperparameter of sgd", "allowed:", "learning_rate"],
    ),
    "one_minus_beta1 under momentum": (
        _protocol(
            "  momentum:\n    learning_rate: 0.1\n    one_minus_beta1: 0.1\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        [
            "optimizers.momentum.one_minus_beta1: not a hyperparameter of momentum",
            "one_minus_momentum",
        ],
    ),
    "relative lr without epsilon": (
        _protocol(
            "  sgd:\n    learning_rate_over_epsilon: 10.0\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate_over_epsilon", "sgd has no epsilon"],
    ),
    "min >= max": (
        _protocol(
            "  sgd:\n    learning_rate: {min: 1.0, max: 1.0e-3, scaling: log}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate", "min (1.0) must be below max (0.001)"],
    ),
    "log range with min 0": (
        _protocol(
            "  sgd:\n    learning_rate: {min: 0, max: 1.0, scaling: log}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate", "a log range needs min > 0"],
    ),
    "unknown scaling": (
        _protocol(
            "  sgd:\n    learning_rate: {min: 0.1, max: 1.0, scaling: cubic}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate.scaling", "'cubic' is not one of linear, log"],
    ),
    "value is a string": (
        _protocol(
            "  sgd:\n    learning_rate: fast\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate: expected a number (fixed) or {min, max, scaling}"],
    ),
    "fixed momentum out of range": (
        _protocol(
            "  momentum:\n    learning_rate: 0.1\n    momentum: 1.5\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.momentum", "momentum=1.5 is out of range", "[0, 1)"],
    ),
    "one_minus_momentum range gives negative momentum": (
        _protocol(
            "  momentum:\n    learning_rate: 0.1\n"
            "    one_minus_momentum: {min: 0.01, max: 2.0, scaling: log}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.momentum", "momentum=-1.0 is out of range"],
    ),
    "fixed negative learning rate": (
        _protocol(
            "  sgd:\n    learning_rate: -0.1\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd", "learning_rate=-0.1 is out of range"],
    ),
    "schedule parameter out of range": (
        _protocol(
            "  sgd:\n    learning_rate: 0.1\n    decay_steps_factor: 1.0\n    decay_factor: 1.5\n"
        ),
        ["optimizers.sgd", "decay_factor=1.5 must be a number in [0, 1]"],
    ),
    "both momentum and one_minus_momentum": (
        _protocol(
            "  momentum:\n    learning_rate: 0.1\n    momentum: 0.9\n    one_minus_momentum: 0.1\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.momentum", "'one_minus_momentum' and 'momentum' both set momentum"],
    ),
    "both learning_rate and relative lr": (
        _protocol(
            "  adam:\n    learning_rate: 0.1\n    learning_rate_over_epsilon: 10.0\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.adam", "both set learning_rate"],
    ),
    "missing schedule param": (
        _protocol("  sgd:\n    learning_rate: 0.1\n    decay_factor: 0.01\n"),
        ["optimizers.sgd", "schedule 'linear_decay' needs decay_steps_factor"],
    ),
    "schedule param for constant schedule": (
        _protocol(
            "  sgd:\n    learning_rate: 0.1\n    decay_factor: 0.01\n",
            head="name: broken\nschedule: constant\n",
        ),
        ["optimizers.sgd.decay_factor: not a hyperparameter of sgd"],
    ),
    "invalid YAML": (
        "name: broken\nschedule: [linear_decay\noptimizers: {sgd: 1\n",
        [":3:11: not valid YAML: expected ',' or ']', but got ':'"],
    ),
    "schedule is a list": (
        "name: broken\nschedule: [linear_decay]\noptimizers:\n" + GOOD_SGD,
        ["schedule: ['linear_decay'] is not one of", "linear_decay"],
    ),
    "search is a mapping": (
        "name: broken\nschedule: linear_decay\nsearch: {kind: grid}\noptimizers:\n" + GOOD_SGD,
        ["search: {'kind': 'grid'} is not one of quasirandom, grid"],
    ),
    "select is a number": (
        "name: broken\nschedule: linear_decay\nselect: 1\noptimizers:\n" + GOOD_SGD,
        ["select: 1 is not one of val_error, train_loss"],
    ),
    "name is a number": (
        "name: 7\nschedule: linear_decay\noptimizers:\n" + GOOD_SGD,
        ["name: protocol name 7 is not usable"],
    ),
    "description is a list": (
        "name: broken\ndescription: [a, b]\nschedule: linear_decay\noptimizers:\n" + GOOD_SGD,
        ["description: expected a string", "['a', 'b']"],
    ),
    "unknown key in a range": (
        _protocol(
            "  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0, scaling: log, step: 2}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate: unknown key 'step'", "allowed: min, max, scaling"],
    ),
    "infinite fixed value": (
        _protocol("  sgd:\n    learning_rate: .inf\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"),
        ["optimizers.sgd.learning_rate: expected a finite number, got inf"],
    ),
    "repeated optimizer": (
        _protocol(GOOD_SGD + GOOD_SGD),
        [":8:3: duplicate key 'sgd' (first at line 4)"],
    ),
    "repeated hyperparameter coordinate": (
        _protocol(GOOD_SGD + "    learning_rate: 0.1\n"),
        [":8:5: duplicate key 'learning_rate' (first at line 5)"],
    ),
    "repeated top-level key": (
        "name: broken\nschedule: linear_decay\nname: again\noptimizers:\n" + GOOD_SGD,
        [":3:1: duplicate key 'name' (first at line 1)"],
    ),
    "relative lr with epsilon 0": (
        _protocol(
            "  adam:\n    learning_rate_over_epsilon: {min: 1.0, max: 1.0e4, scaling: log}\n"
            "    epsilon: 0.0\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.adam.epsilon: learning_rate_over_epsilon needs epsilon > 0", "got epsilon=0.0"],
    ),
    "relative lr range reaching epsilon 0": (
        _protocol(
            "  adam:\n    learning_rate_over_epsilon: 10.0\n"
            "    epsilon: {min: 0.0, max: 1.0, scaling: linear}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.adam.epsilon: learning_rate_over_epsilon needs epsilon > 0"],
    ),
    "relative lr negative": (
        _protocol(
            "  adam:\n    learning_rate_over_epsilon: -10.0\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.adam.learning_rate_over_epsilon: expected a finite number > 0", "got -10.0"],
    ),
    "not a mapping": (
        "- name: broken\n- schedule: linear_decay\n",
        ["expected a mapping with keys", "optimizers"],
    ),
    "empty file": (
        "",
        ["expected a mapping with keys"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PROTOCOLS))
def test_broken_protocol_is_input_error_naming_file_and_field(tmp_path, case):
    text, fragments = BROKEN_PROTOCOLS[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_protocol(str(path))
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


MINIMAL_CONFIG = (
    "name: exp\nworkloads: [mnist1d-mlp]\noptimizers: [sgd]\nprotocols: [broken.yaml]\n"
    "trials_per_search: 2\n"
)


def _plan_cli(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``optcompare plan CONFIG --out plan.parquet`` in ``tmp_path``; (exit status, stderr), and
    checks that nothing was written there (no plan, no results, stdout empty)."""
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["plan", str(config), "--out", str(tmp_path / "plan.parquet")])
    out, err = capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert out == ""
    return code, err


@pytest.mark.parametrize("case", sorted(BROKEN_PROTOCOLS))
def test_broken_protocol_through_the_cli_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, case):
    text, fragments = BROKEN_PROTOCOLS[case]
    monkeypatch.chdir(tmp_path)
    protocol = tmp_path / "broken.yaml"
    protocol.write_text(text)
    config = tmp_path / "exp.yaml"
    config.write_text(MINIMAL_CONFIG)
    code, err = _plan_cli(tmp_path, config, capsys)
    assert code == 2, err
    assert err.startswith("optcompare plan: error: ") and str(protocol) in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def test_yaml_errors_are_one_line_path_line_col(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_PROTOCOLS["invalid YAML"][0])
    with pytest.raises(InputError) as info:
        load_protocol(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}:3:11: not valid YAML: ")
    assert "\n" not in message and "<unicode string>" not in message


def test_optimizer_name_not_repeated_in_range_messages(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(BROKEN_PROTOCOLS["fixed momentum out of range"][0])
    with pytest.raises(InputError) as info:
        load_protocol(str(path))
    assert "optimizers.momentum: momentum=1.5 is out of range" in str(info.value)
    assert str(info.value).count("momentum:") == 1


def test_yaml_merge_keys_may_override_merged_values(tmp_path):
    path = _write(tmp_path, "merge.yaml", "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert read_yaml(path) == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}}


def test_yaml_not_utf8_is_input_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_yaml(path)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


def test_unknown_protocol_name_lists_shipped():
    with pytest.raises(
        InputError, match=r"unknown protocol 'nope'; valid choices: .*choi-full.*lr-only"
    ):
        load_protocol("nope")


# --- broken experiment configs ----------------------------------------------------------------

GOOD_CONFIG = {
    "name": "name: exp",
    "workloads": "workloads: [mnist1d-mlp]",
    "optimizers": "optimizers: [sgd, adam]",
    "protocols": "protocols: [lr-only]",
    "trials_per_search": "trials_per_search: 4",
    "seed": "seed: 0",
}


def _config(**replace: str | None) -> str:
    lines = {**GOOD_CONFIG, **replace}
    return "\n".join(v for v in lines.values() if v is not None) + "\n"


def test_good_config_template_loads(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(_config())
    config = load_config(path)
    assert config.name == "exp"
    assert config.optimizers == ["sgd", "adam"]
    assert [w.name for w in config.workloads] == ["mnist1d-mlp"]
    assert config.trials_per_search == 4
    assert config.workloads[0].bundle_size == 1  # trials run one per task unless asked


def test_bundle_size_top_level_and_per_workload(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(_config(
        workloads="workloads: [mnist1d-mlp, {name: digits-cnn, bundle_size: 4}]", extra="bundle_size: auto"
    ))
    config = load_config(path)
    assert [w.bundle_size for w in config.workloads] == ["auto", 4]


BROKEN_CONFIGS = {
    "unknown top-level key": (
        _config(extra="trials: 3"),
        ["unknown key 'trials'", "allowed:", "trials_per_search"],
    ),
    "missing name": (_config(name=None), ["missing required key 'name'"]),
    "missing workloads": (_config(workloads=None), ["missing required key 'workloads'"]),
    "missing trials_per_search": (
        _config(trials_per_search=None),
        ["missing required key 'trials_per_search'"],
    ),
    "name with a slash": (_config(name="name: a/b"), ["name: expected a directory-safe experiment name"]),
    "unknown workload": (
        _config(workloads="workloads: [imagenet-resnet]"),
        ["workloads[0].name: unknown workload 'imagenet-resnet'", "valid choices:", "mnist1d-mlp"],
    ),
    "workload unknown key": (
        _config(workloads="workloads: [{name: mnist1d-mlp, epochs: 3}]"),
        ["workloads[0]: unknown key 'epochs'", "allowed:", "eval_every"],
    ),
    "workload steps 0": (
        _config(workloads="workloads: [{name: mnist1d-mlp, steps: 0}]"),
        ["workloads[0].steps: expected an integer >= 1, got 0"],
    ),
    "workload listed twice": (
        _config(workloads="workloads: [mnist1d-mlp, digits-cnn, {name: mnist1d-mlp, steps: 5}]"),
        ["workloads[2]: workload 'mnist1d-mlp' is listed twice (also workloads[0])"],
    ),
    "description is a number": (
        _config(extra="description: 3"),
        ["description: expected a string", "got 3"],
    ),
    "data_dir is a list": (
        _config(workloads="workloads: [{name: mnist1d-mlp, data_dir: [a, b]}]"),
        ["workloads[0].data_dir: expected a directory path", "['a', 'b']"],
    ),
    "workload name is a list": (
        _config(workloads="workloads: [{name: [mnist1d-mlp]}]"),
        ["workloads[0].name: unknown workload ['mnist1d-mlp']", "valid choices:"],
    ),
    "options with a number key": (
        _config(workloads="workloads: [{name: mnist1d-mlp, options: {1: 2}}]"),
        ["workloads[0].options: expected a mapping option name -> value"],
    ),
    "unknown keys of several types": (
        _config(extra="1: a\nzeta: b"),
        ["unknown key 'zeta'", "allowed:"],
    ),
    "plugins is 0": (
        _config(extra="plugins: 0"),
        ["plugins: expected a list of module names, got 0"],
    ),
    "mixed_precision a string": (
        _config(extra="mixed_precision: 'yes'"),
        ["mixed_precision: expected true or false, got 'yes'"],
    ),
    "mixed_precision on CPU trials": (
        _config(extra="mixed_precision: true"),
        ["workloads[0] (mnist1d-mlp): mixed_precision needs GPU trials", "resources.gpus_per_trial > 0"],
    ),
    "workload mixed_precision a number": (
        _config(workloads="workloads: [{name: mnist1d-mlp, mixed_precision: 1}]"),
        ["workloads[0].mixed_precision: expected true or false, got 1"],
    ),
    "repeated top-level key": (
        _config(extra="seed: 3"),
        [":7:1: duplicate key 'seed' (first at line 6)"],
    ),
    "repeated workload key": (
        _config(workloads="workloads:\n  - name: mnist1d-mlp\n    steps: 4\n    steps: 5"),
        [":5:5: duplicate key 'steps' (first at line 4)"],
    ),
    "empty workloads": (
        _config(workloads="workloads: []"),
        ["workloads: expected a non-empty list"],
    ),
    "unknown optimizer": (
        _config(optimizers="optimizers: [sgd, lamb]"),
        ["optimizers: unknown optimizer 'lamb'", "valid choices:", "adam"],
    ),
    "duplicate optimizer": (
        _config(optimizers="optimizers: [sgd, adam, sgd]"),
        ["optimizers: 'sgd' is listed twice"],
    ),
    "optimizers not a list": (
        _config(optimizers="optimizers: sgd"),
        ["optimizers: expected a non-empty list of names"],
    ),
    "duplicate protocol": (
        _config(protocols="protocols: [lr-only, lr-only]"),
        ["protocols: 'lr-only' is listed twice"],
    ),
    "trials_per_search 0": (
        _config(trials_per_search="trials_per_search: 0"),
        ["trials_per_search: expected an integer >= 1, got 0"],
    ),
    "trials_per_search ten": (
        _config(trials_per_search="trials_per_search: ten"),
        ["trials_per_search: expected an integer >= 1, got 'ten'"],
    ),
    "trials_per_search float": (
        _config(trials_per_search="trials_per_search: 2.5"),
        ["trials_per_search: expected an integer >= 1, got 2.5"],
    ),
    "trials_per_search bool": (
        _config(trials_per_search="trials_per_search: true"),
        ["trials_per_search: expected an integer >= 1, got True"],
    ),
    "negative seed": (_config(seed="seed: -1"), ["seed: expected an integer >= 0, got -1"]),
    "resources unknown key": (
        _config(extra="resources: {cpus_per_trial: 1, memory: 4}"),
        ["resources: unknown key 'memory'", "allowed:", "gpus_per_trial"],
    ),
    "resources not a mapping": (
        _config(extra="resources: [1, 2]"),
        ["resources: expected a mapping"],
    ),
    "resources zero cpus": (
        _config(extra="resources: {cpus_per_trial: 0}"),
        ["resources.cpus_per_trial: expected a number >= 0.01, got 0"],
    ),
    "resources max_concurrent_trials 0": (
        _config(extra="resources: {max_concurrent_trials: 0}"),
        ["resources.max_concurrent_trials: expected an integer >= 1, got 0"],
    ),
    "negative max_failures": (
        _config(extra="max_failures: -1"),
        ["max_failures: expected an integer >= 0, got -1"],
    ),
    "report_every_s nan": (
        _config(extra="report_every_s: .nan"),
        ["report_every_s: expected a number >= 0"],
    ),
    "bundle_size zero": (
        _config(extra="bundle_size: 0"),
        ["bundle_size: expected an integer >= 1 or 'auto', got 0"],
    ),
    "bundle_size word": (
        _config(extra="bundle_size: max"),
        ["bundle_size: expected an integer >= 1 or 'auto', got 'max'"],
    ),
    "workload bundle_size float": (
        _config(workloads="workloads: [{name: mnist1d-mlp, bundle_size: 2.5}]"),
        ["workloads[0].bundle_size: expected an integer >= 1 or 'auto', got 2.5"],
    ),
    "invalid YAML": ("name: exp\nworkloads: [mnist1d-mlp\n", [":3:1: not valid YAML: expected ',' or ']'"]),
    "not a mapping": ("- name: exp\n", ["expected a mapping with keys", "trials_per_search"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CONFIGS))
def test_broken_config_is_input_error_naming_file_and_field(tmp_path, case):
    text, fragments = BROKEN_CONFIGS[case]
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("case", sorted(BROKEN_CONFIGS))
def test_broken_config_through_the_cli_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, case):
    text, fragments = BROKEN_CONFIGS[case]
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "exp.yaml"
    config.write_text(text)
    code, err = _plan_cli(tmp_path, config, capsys)
    assert code == 2, err
    assert err.startswith("optcompare plan: error: ") and str(config) in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


# --- wrong YAML types anywhere: always InputError, never another exception ---------------------

OTHER_TYPES = ("word", 3, 2.5, True, None, ["constant"], {"min": 1}, -1)
"""Values put in place of each field of a valid file (and of the file itself)."""


def _fields(node: object, prefix: tuple = ()) -> list[tuple]:
    """Paths (keys and list indices) of every node under ``node``, the root included."""
    found = [prefix]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found += _fields(value, (*prefix, key))
    return found


def _replaced(node: object, path: tuple, value: object) -> object:
    if not path:
        return value
    node = copy.deepcopy(node)
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return node


def _renamed(node: object, path: tuple, new_key: object) -> object:
    node = copy.deepcopy(node)
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    parent[new_key] = parent.pop(path[-1])
    return node


def _fuzz(tmp_path: Path, valid: dict, load) -> list[str]:  # noqa: ANN001
    """Load ``valid`` with each field replaced by values of other types, and with each key
    replaced by a non-string one; return what raised something else than InputError."""
    path = tmp_path / "fuzz.yaml"
    variants = [(f, v, _replaced(valid, f, v)) for f in _fields(valid) for v in OTHER_TYPES]
    variants += [
        (f, f"key {k!r}", _renamed(valid, f, k))
        for f in _fields(valid)
        if f and isinstance(f[-1], str)
        for k in (1, None)
    ]
    escaped = []
    for field_path, value, data in variants:
        path.write_text(yaml.safe_dump(data))
        try:
            load(path)
        except InputError:
            pass
        except Exception as err:  # noqa: BLE001 - what this test looks for
            escaped.append(f"{field_path} = {value!r}: {type(err).__name__}: {err}")
    return escaped


def test_wrong_types_in_a_protocol_are_input_errors(tmp_path):
    quasi = yaml.safe_load(textwrap.dedent("""\
        name: q
        description: d
        schedule: linear_decay
        search: quasirandom
        select: val_error
        rerun_best: {seeds: 2}
        optimizers:
          sgd:
            learning_rate: {min: 1.0e-3, max: 1.0, scaling: log, from_trials: 2}
            decay_steps_factor: 1.0
            decay_factor: {feasible_points: [0.01, 0.1]}
          adam:
            learning_rate_over_epsilon: {min: 1.0, max: 1.0e4, scaling: log}
            epsilon: {min: 1.0e-8, max: 1.0, scaling: log}
            one_minus_beta1: 0.1
            decay_steps_factor: {min: 0.5, max: 1.0, scaling: linear}
            decay_factor: 0.01
        """))
    grid = yaml.safe_load((Path(load_protocol("wilson2017").source)).read_text())
    grid["optimizers"] = {"rmsprop": grid["optimizers"]["rmsprop"]}
    grid["optimizers"]["rmsprop"]["one_minus_rho"] = {"min": 1e-3, "max": 0.1, "scaling": "log", "num": 2}
    del grid["optimizers"]["rmsprop"]["rho"]
    for valid in (quasi, grid):
        assert _fuzz(tmp_path, valid, lambda p: load_protocol(str(p))) == []


def test_wrong_types_in_a_config_are_input_errors(tmp_path):
    valid = {
        "name": "exp", "description": "d", "optimizers": ["sgd", "adam"], "protocols": ["lr-only"],
        "workloads": [
            "mnist1d-mlp",
            {"name": "digits-cnn", "steps": 10, "eval_every": 5, "data_dir": "data", "options": {},
             "bundle_size": 2, "mixed_precision": True},
        ],
        "trials_per_search": 2, "seed": 0, "max_failures": 2, "report_every_s": 10, "plugins": [],
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0.5, "max_concurrent_trials": 4},
        "bundle_size": "auto", "mixed_precision": False,
    }
    path = tmp_path / "valid.yaml"
    path.write_text(yaml.safe_dump(valid))
    load_config(path)
    assert _fuzz(tmp_path, valid, load_config) == []


def test_config_file_missing(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "config file not found" in str(info.value)


def test_config_that_is_a_directory(tmp_path):
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path)


def test_config_broken_protocol_file_names_the_protocol_file(tmp_path):
    protocol = tmp_path / "bad-protocol.yaml"
    protocol.write_text(_protocol("  sgd:\n    learning_rate: 0.1\n    beta1: 0.9\n"))
    path = tmp_path / "exp.yaml"
    path.write_text(
        _config(protocols="protocols: [bad-protocol.yaml]", optimizers="optimizers: [sgd]")
    )
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(protocol) in str(info.value)
    assert "optimizers.sgd.beta1" in str(info.value)


def test_config_optimizer_missing_from_protocol(tmp_path):
    protocol = tmp_path / "sgd-only.yaml"
    protocol.write_text(
        "name: sgd-only\nschedule: constant\noptimizers:\n  sgd: {learning_rate: 0.1}\n"
    )
    path = tmp_path / "exp.yaml"
    path.write_text(_config(protocols="protocols: [sgd-only.yaml]"))
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert "no search space for optimizer 'adam'" in message
    assert "sgd" in message


def test_config_two_protocols_sharing_a_name(tmp_path):
    for stem in ("one", "two"):
        (tmp_path / f"{stem}.yaml").write_text(
            "name: same\nschedule: constant\noptimizers:\n  sgd: {learning_rate: 0.1}\n"
        )
    path = tmp_path / "exp.yaml"
    path.write_text(
        _config(protocols="protocols: [one.yaml, two.yaml]", optimizers="optimizers: [sgd]")
    )
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert (
        "protocols: protocols[0] (one.yaml) and protocols[1] (two.yaml) share the name 'same'"
        in str(info.value)
    )


def test_config_unknown_protocol_name(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(_config(protocols="protocols: [lr-only, wilson2099]"))
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert "unknown protocol 'wilson2099'" in message
    assert "choi-full" in message and "lr-only" in message


def test_config_unknown_protocol_name_names_config_file_and_field(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(_config(protocols="protocols: [lr-only, wilson2099]"))
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "protocols[1]" in message.split("unknown protocol")[0]


def test_config_missing_protocol_file_names_config(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(_config(protocols="protocols: [missing.yaml]"))
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "protocols[0]" in message
    assert "'missing.yaml'" in message


# --- regressions of bugs found while writing these tests ----------------------------------------

RMSPROP_SEVEN = """\
name: seven
schedule: linear_decay
optimizers:
  rmsprop:
    one_minus_momentum: {min: 1.0e-3, max: 1.5, scaling: log}
    learning_rate: {min: 1.0e-5, max: 1.0, scaling: log}
    one_minus_rho: {min: 1.0e-4, max: 1.0, scaling: log}
    epsilon: {min: 1.0e-10, max: 1.0, scaling: log}
    weight_decay: {min: 1.0e-6, max: 1.0e-2, scaling: log}
    decay_steps_factor: {min: 0.5, max: 1.0, scaling: linear}
    decay_factor: {min: 1.0e-4, max: 1.0e-1, scaling: log}
"""


def test_six_coordinates_bad_range_end_is_caught(tmp_path):
    # Same as RMSPROP_SEVEN without weight_decay: 2^6 = 64 corners, all checked.
    path = tmp_path / "six.yaml"
    path.write_text(
        RMSPROP_SEVEN.replace("    weight_decay: {min: 1.0e-6, max: 1.0e-2, scaling: log}\n", "")
    )
    with pytest.raises(InputError, match=r"optimizers\.rmsprop: .*momentum=-0\.5 is out of range"):
        load_protocol(str(path))


def test_seven_coordinates_bad_range_end_is_caught(tmp_path):
    path = tmp_path / "seven.yaml"
    path.write_text(RMSPROP_SEVEN)
    with pytest.raises(InputError, match=r"momentum=-0\.5 is out of range"):
        load_protocol(str(path))


def test_non_numeric_feasible_point_is_input_error(tmp_path):
    path = tmp_path / "strpoint.yaml"
    path.write_text(
        _protocol(
            "  sgd:\n    learning_rate: {feasible_points: [0.1, fast]}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        )
    )
    try:
        load_protocol(str(path))
    except InputError as err:
        assert str(path) in str(err)
        assert "optimizers.sgd.learning_rate" in str(err)
    except (ValueError, TypeError) as err:
        raise AssertionError(f"not an InputError: {type(err).__name__}: {err}") from err
    else:
        raise AssertionError("a non-numeric feasible point loaded silently")


def test_null_feasible_point_is_input_error(tmp_path):
    path = tmp_path / "nullpoint.yaml"
    path.write_text(
        _protocol(
            "  sgd:\n    learning_rate: {feasible_points: [0.1, null]}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        )
    )
    try:
        load_protocol(str(path))
    except InputError as err:
        assert str(path) in str(err)
    except (ValueError, TypeError) as err:
        raise AssertionError(f"not an InputError: {type(err).__name__}: {err}") from err
    else:
        raise AssertionError("a null feasible point loaded silently")
