"""Broken protocol and config files: each is an InputError (a ValueError) naming the file, the
field path and what is allowed, through the library and through the CLI (exit status 2,
nothing written); wrong YAML types anywhere are InputErrors too, never another exception."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from optcompare.cli import main
from optcompare.errors import InputError
from tests.tuning.file_texts import BROKEN_YAML, GOOD_SGD, config_text, protocol_text
from tuning.spec.config import load_config
from tuning.spec.protocol import load_protocol


class Broken(NamedTuple):
    """A broken config's text, fragments its error must contain, other files beside it, and the
    file the error must name (the config itself unless a file it names is the broken one)."""

    text: str
    fragments: list[str]
    files: dict[str, str] = {}
    names: str = "exp.yaml"


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
"""Seven searched coordinates, one range end out of range (a regression: corners beyond six
coordinates were not all checked)."""


STAGED_HEAD = "name: broken\nschedule: linear_decay\nstages:\n"
"""The head of a staged protocol; the stage lines follow."""


def adaptive(sampler: str, extra: str = "") -> str:
    """The head of a protocol searched by ``sampler`` (an Optuna sampler), ``extra`` lines after."""
    return f"name: broken\nschedule: linear_decay\nsearch: {sampler}\n{extra}"


SGD_WITH = "  sgd:\n    learning_rate: {{min: 1.0e-3, max: 1.0, scaling: log, {}}}\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
"""An sgd entry whose learning-rate range carries one more key."""

def laughs(levels: int = 9, key: str = "description") -> str:
    """A "billion laughs": ``levels`` anchors, each a list of nine aliases of the one before
    (9**levels strings once expanded), the last one the value of ``key``."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join([*lines, f"{key}: *l{levels - 1}"])


BROKEN_PROTOCOLS = {
    "aliases that multiply (billion laughs)": (
        laughs() + "\nname: broken\nschedule: linear_decay\noptimizers:\n" + GOOD_SGD,
        [":6:10: aliases expand the document past 100000 nodes (at *l4, 66430 nodes each time)"],
    ),
    "alias inside its own anchor": (
        "name: &n [broken, *n]\nschedule: linear_decay\noptimizers:\n" + GOOD_SGD,
        [":1:19: alias *n inside its own anchor"],
    ),
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
    "schedule-free under a decaying schedule": (
        "name: broken\nschedule: linear_decay\noptimizers:\n  schedule-free-adamw:\n    learning_rate: 0.01\n"
        "    decay_steps_factor: 1.0\n    decay_factor: 0.1\n",
        ["optimizers.schedule-free-adamw: optimizer 'schedule-free-adamw' averages its iterates in place of a "
         "decaying schedule: give it the constant schedule (a warm-up, warmup_steps_factor, is allowed), not "
         "'linear_decay'"],
    ),
    "unknown schedule": (
        "name: broken\nschedule: cosine\noptimizers:\n" + GOOD_SGD,
        ["schedule: 'cosine' is not one of", "constant", "linear_decay"],
    ),
    "unknown search kind": (
        "name: broken\nschedule: linear_decay\nsearch: bayesian\noptimizers:\n" + GOOD_SGD,
        ["search: 'bayesian' is not one of quasirandom, grid", "tpe, gp, cmaes, random, qmc"],
    ),
    "unknown sampler option": (
        protocol_text(GOOD_SGD, head=adaptive("tpe", "sampler_options: {n_trials: 5}\n")),
        ["sampler_options: unknown key 'n_trials'", "allowed:", "n_startup_trials", "constant_liar"],
    ),
    "sampler option of the wrong type": (
        protocol_text(GOOD_SGD, head=adaptive("tpe", "sampler_options: {n_startup_trials: ten}\n")),
        ["sampler_options.n_startup_trials: expected an integer >= 0, got 'ten'"],
    ),
    "sampler flag of the wrong type": (
        protocol_text(GOOD_SGD, head=adaptive("gp", "sampler_options: {deterministic_objective: 1}\n")),
        ["sampler_options.deterministic_objective: expected true or false, got 1"],
    ),
    "qmc type unknown": (
        protocol_text(GOOD_SGD, head=adaptive("qmc", "sampler_options: {qmc_type: lattice}\n")),
        ["sampler_options.qmc_type: 'lattice' is not one of halton, sobol"],
    ),
    "options for the random sampler": (
        protocol_text(GOOD_SGD, head=adaptive("random", "sampler_options: {seed: 3}\n")),
        ["sampler_options: unknown key 'seed'", "the random sampler takes no options"],
    ),
    "sampler options not a mapping": (
        protocol_text(GOOD_SGD, head=adaptive("tpe", "sampler_options: [10]\n")),
        ["sampler_options: ", "dictionary", "[10]"],
    ),
    "sampler options under a planned search": (
        protocol_text(GOOD_SGD, head="name: broken\nschedule: linear_decay\nsampler_options: {n_startup_trials: 5}\n"),
        ["sampler_options: only an adaptive search (tpe, gp, cmaes, random, qmc) takes sampler_options",
         "search is 'quasirandom'"],
    ),
    "grid num under an adaptive search": (
        protocol_text(SGD_WITH.format("num: 3"), head=adaptive("tpe")),
        ["optimizers.sgd.learning_rate.num: only a grid search takes num; this protocol's search is 'tpe'"],
    ),
    "from_trials under an adaptive search": (
        protocol_text(SGD_WITH.format("from_trials: 8"), head=adaptive("random")),
        ["optimizers.sgd.learning_rate.from_trials: only a quasirandom search takes from_trials",
         "the 'random' sampler asks every point from the whole space"],
    ),
    "stages with an adaptive search": (
        adaptive("tpe", "stages:\n  - {name: initial, fraction: 0.5}\n"
                 "  - {name: final, fraction: 0.5, refine: {best_k: 2}}\noptimizers:\n") + GOOD_SGD,
        ["stages: only a quasirandom search has stages; this protocol's search is 'tpe'"],
    ),
    "unknown select metric": (
        "name: broken\nschedule: linear_decay\nselect: test_error\noptimizers:\n" + GOOD_SGD,
        ["select: 'test_error' is not one of val_error, train_loss"],
    ),
    "unknown optimizer": (
        protocol_text("  lamb:\n    learning_rate: 0.1\n"),
        ["optimizers.lamb: unknown optimizer", "valid choices:", "sgd", "nadam"],
    ),
    "optimizer entry not a mapping": (
        protocol_text("  sgd: 0.1\n"),
        ["optimizers.sgd: expected a mapping"],
    ),
    "beta1 under sgd": (
        protocol_text(GOOD_SGD + "    beta1: 0.9\n"),
        ["optimizers.sgd.beta1: not a hyperparameter of sgd", "allowed:", "learning_rate"],
    ),
    "one_minus_beta1 under momentum": (
        protocol_text(
            "  momentum:\n    learning_rate: 0.1\n    one_minus_beta1: 0.1\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        [
            "optimizers.momentum.one_minus_beta1: not a hyperparameter of momentum",
            "one_minus_momentum",
        ],
    ),
    "relative lr without epsilon": (
        protocol_text(
            "  sgd:\n    learning_rate_over_epsilon: 10.0\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate_over_epsilon", "sgd has no epsilon"],
    ),
    "min >= max": (
        protocol_text(
            "  sgd:\n    learning_rate: {min: 1.0, max: 1.0e-3, scaling: log}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate", "min (1.0) must be below max (0.001)"],
    ),
    "log range with min 0": (
        protocol_text(
            "  sgd:\n    learning_rate: {min: 0, max: 1.0, scaling: log}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate", "a log range needs min > 0"],
    ),
    "unknown scaling": (
        protocol_text(
            "  sgd:\n    learning_rate: {min: 0.1, max: 1.0, scaling: cubic}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate.scaling", "'cubic' is not one of linear, log"],
    ),
    "value is a string": (
        protocol_text(
            "  sgd:\n    learning_rate: fast\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate: expected a number (fixed) or {min, max, scaling}"],
    ),
    "fixed momentum out of range": (
        protocol_text(
            "  momentum:\n    learning_rate: 0.1\n    momentum: 1.5\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.momentum", "momentum=1.5 is out of range", "[0, 1)"],
    ),
    "one_minus_momentum range gives negative momentum": (
        protocol_text(
            "  momentum:\n    learning_rate: 0.1\n"
            "    one_minus_momentum: {min: 0.01, max: 2.0, scaling: log}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.momentum", "momentum=-1.0 is out of range"],
    ),
    "fixed negative learning rate": (
        protocol_text(
            "  sgd:\n    learning_rate: -0.1\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd", "learning_rate=-0.1 is out of range"],
    ),
    "schedule parameter out of range": (
        protocol_text(
            "  sgd:\n    learning_rate: 0.1\n    decay_steps_factor: 1.0\n    decay_factor: 1.5\n"
        ),
        ["optimizers.sgd", "decay_factor=1.5 must be a number in [0, 1]"],
    ),
    "both momentum and one_minus_momentum": (
        protocol_text(
            "  momentum:\n    learning_rate: 0.1\n    momentum: 0.9\n    one_minus_momentum: 0.1\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.momentum", "'one_minus_momentum' and 'momentum' both set momentum"],
    ),
    "both learning_rate and relative lr": (
        protocol_text(
            "  adam:\n    learning_rate: 0.1\n    learning_rate_over_epsilon: 10.0\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.adam", "both set learning_rate"],
    ),
    "missing schedule param": (
        protocol_text("  sgd:\n    learning_rate: 0.1\n    decay_factor: 0.01\n"),
        ["optimizers.sgd", "schedule 'linear_decay' needs decay_steps_factor"],
    ),
    "schedule param for constant schedule": (
        protocol_text(
            "  sgd:\n    learning_rate: 0.1\n    decay_factor: 0.01\n",
            head="name: broken\nschedule: constant\n",
        ),
        ["optimizers.sgd.decay_factor: not a hyperparameter of sgd"],
    ),
    "invalid YAML": (
        BROKEN_YAML,
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
        protocol_text(
            "  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0, scaling: log, step: 2}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate: unknown key 'step'",
         "allowed: min, max, scaling, from_trials, num (or feasible_points in place of min, max, scaling)"],
    ),
    "infinite fixed value": (
        protocol_text("  sgd:\n    learning_rate: .inf\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"),
        ["optimizers.sgd.learning_rate: expected a finite number, got inf"],
    ),
    "repeated optimizer": (
        protocol_text(GOOD_SGD + GOOD_SGD),
        [":8:3: duplicate key 'sgd' (first at line 4)"],
    ),
    "repeated hyperparameter coordinate": (
        protocol_text(GOOD_SGD + "    learning_rate: 0.1\n"),
        [":8:5: duplicate key 'learning_rate' (first at line 5)"],
    ),
    "repeated top-level key": (
        "name: broken\nschedule: linear_decay\nname: again\noptimizers:\n" + GOOD_SGD,
        [":3:1: duplicate key 'name' (first at line 1)"],
    ),
    "relative lr with epsilon 0": (
        protocol_text(
            "  adam:\n    learning_rate_over_epsilon: {min: 1.0, max: 1.0e4, scaling: log}\n"
            "    epsilon: 0.0\n    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.adam.epsilon: learning_rate_over_epsilon needs epsilon > 0", "got epsilon=0.0"],
    ),
    "relative lr range reaching epsilon 0": (
        protocol_text(
            "  adam:\n    learning_rate_over_epsilon: 10.0\n"
            "    epsilon: {min: 0.0, max: 1.0, scaling: linear}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.adam.epsilon: learning_rate_over_epsilon needs epsilon > 0"],
    ),
    "relative lr negative": (
        protocol_text(
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
    # Regressions of bugs found while writing these tests:
    "six coordinates, a bad range end": (  # 2^6 = 64 corners, all checked
        RMSPROP_SEVEN.replace("    weight_decay: {min: 1.0e-6, max: 1.0e-2, scaling: log}\n", ""),
        ["optimizers.rmsprop: ", "momentum=-0.5 is out of range"],
    ),
    "seven coordinates, a bad range end": (RMSPROP_SEVEN, ["optimizers.rmsprop: ", "momentum=-0.5 is out of range"]),
    "non-numeric feasible point": (
        protocol_text(
            "  sgd:\n    learning_rate: {feasible_points: [0.1, fast]}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate.feasible_points[1]: 'fast' is not a finite number"],
    ),
    "null feasible point": (
        protocol_text(
            "  sgd:\n    learning_rate: {feasible_points: [0.1, null]}\n"
            "    decay_steps_factor: 1.0\n    decay_factor: 0.01\n"
        ),
        ["optimizers.sgd.learning_rate.feasible_points[1]: None is not a finite number"],
    ),
    "stages on a grid search": (
        "name: broken\nschedule: constant\nsearch: grid\nstages:\n  - {name: initial, fraction: 0.5}\n"
        "  - {name: final, fraction: 0.5, refine: {}}\noptimizers:\n"
        "  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0, scaling: log, num: 3}\n",
        ["stages: only a quasirandom search has stages", "'grid'"],
    ),
    "one stage": (
        STAGED_HEAD + "  - {name: final, fraction: 1.0}\n" + "optimizers:\n" + GOOD_SGD,
        ["stages: expected two or more stages, got 1"],
    ),
    "stages not a list": (
        STAGED_HEAD.replace("stages:\n", "stages: two\n") + "optimizers:\n" + GOOD_SGD,
        ["stages: ", "'two'"],
    ),
    "stage without refine": (
        STAGED_HEAD + "  - {name: initial, fraction: 0.5}\n  - {name: final, fraction: 0.5}\n"
        "optimizers:\n" + GOOD_SGD,
        ["stages[1]: stage 'final' needs refine:", "from stage 'initial'"],
    ),
    "refine on the first stage": (
        STAGED_HEAD + "  - {name: initial, fraction: 0.5, refine: {}}\n"
        "  - {name: final, fraction: 0.5, refine: {}}\noptimizers:\n" + GOOD_SGD,
        ["stages[0].refine: the first stage searches the protocol's space"],
    ),
    "stage fractions not summing to 1": (
        STAGED_HEAD + "  - {name: initial, fraction: 0.5}\n"
        "  - {name: final, fraction: 0.25, refine: {}}\noptimizers:\n" + GOOD_SGD,
        ["stages: the stages' fractions must sum to 1, got 0.75"],
    ),
    "stage named twice": (
        STAGED_HEAD + "  - {name: final, fraction: 0.5}\n"
        "  - {name: final, fraction: 0.5, refine: {}}\noptimizers:\n" + GOOD_SGD,
        ["stages[1].name: stage 'final' is named twice"],
    ),
    "stage named all": (
        STAGED_HEAD + "  - {name: all, fraction: 0.5}\n"
        "  - {name: final, fraction: 0.5, refine: {}}\noptimizers:\n" + GOOD_SGD,
        ["stages[0].name: expected a lowercase name", "(not 'all')", "'all'"],
    ),
    "stage fraction out of range": (
        STAGED_HEAD + "  - {name: initial, fraction: 1.5}\n"
        "  - {name: final, fraction: -0.5, refine: {}}\noptimizers:\n" + GOOD_SGD,
        ["stages[0].fraction: expected a number in (0, 1], got 1.5"],
    ),
    "refine margin not positive": (
        STAGED_HEAD + "  - {name: initial, fraction: 0.5}\n"
        "  - {name: final, fraction: 0.5, refine: {margin: 0}}\noptimizers:\n" + GOOD_SGD,
        ["stages[1].refine.margin: margin must be a finite number > 0, got 0"],
    ),
    "refine with both best_k and best_fraction": (
        STAGED_HEAD + "  - {name: initial, fraction: 0.5}\n"
        "  - {name: final, fraction: 0.5, refine: {best_k: 3, best_fraction: 0.5}}\noptimizers:\n" + GOOD_SGD,
        ["stages[1].refine.best_k: give best_k or best_fraction, not both"],
    ),
    "unknown refine key": (
        STAGED_HEAD + "  - {name: initial, fraction: 0.5}\n"
        "  - {name: final, fraction: 0.5, refine: {best: 3}}\noptimizers:\n" + GOOD_SGD,
        ["stages[1].refine: unknown key 'best'", "best_fraction"],
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


def test_optimizer_name_not_repeated_in_range_messages(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(BROKEN_PROTOCOLS["fixed momentum out of range"][0])
    with pytest.raises(InputError) as info:
        load_protocol(str(path))
    assert "optimizers.momentum: momentum=1.5 is out of range" in str(info.value)
    assert str(info.value).count("momentum:") == 1


def test_unknown_protocol_name_lists_shipped():
    with pytest.raises(
        InputError, match=r"unknown protocol 'nope'; valid choices: .*choi-full.*lr-only"
    ):
        load_protocol("nope")


BROKEN_CONFIGS = {
    "unknown top-level key": (
        config_text(extra="trials: 3"),
        ["unknown key 'trials'", "allowed:", "trials_per_search"],
    ),
    "missing name": (config_text(name=None), ["missing required key 'name'"]),
    "missing workloads": (config_text(workloads=None), ["missing required key 'workloads'"]),
    "missing trials_per_search": (
        config_text(trials_per_search=None),
        ["missing required key 'trials_per_search'"],
    ),
    "name with a slash": (config_text(name="name: a/b"), ["name: expected a directory-safe experiment name"]),
    "unknown workload": (
        config_text(workloads="workloads: [imagenet-resnet]"),
        ["workloads[0].name: unknown workload 'imagenet-resnet'", "valid choices:", "mnist1d-mlp"],
    ),
    "workload unknown key": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, epochs: 3}]"),
        ["workloads[0]: unknown key 'epochs'", "allowed:", "eval_every"],
    ),
    "workload steps 0": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, steps: 0}]"),
        ["workloads[0].steps: expected an integer >= 1, got 0"],
    ),
    "workload listed twice": (
        config_text(workloads="workloads: [mnist1d-mlp, digits-cnn, {name: mnist1d-mlp, steps: 5}]"),
        ["workloads[2]: workload 'mnist1d-mlp' is listed twice (also workloads[0])"],
    ),
    "description is a number": (
        config_text(extra="description: 3"),
        ["description: expected a string", "got 3"],
    ),
    "data_dir is a list": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, data_dir: [a, b]}]"),
        ["workloads[0].data_dir: expected a directory path", "['a', 'b']"],
    ),
    "workload name is a list": (
        config_text(workloads="workloads: [{name: [mnist1d-mlp]}]"),
        ["workloads[0].name: unknown workload ['mnist1d-mlp']", "valid choices:"],
    ),
    "options with a number key": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, options: {1: 2}}]"),
        ["workloads[0].options: expected a mapping option name -> value"],
    ),
    "unknown keys of several types": (
        config_text(extra="1: a\nzeta: b"),
        ["unknown key 'zeta'", "allowed:"],
    ),
    "plugins is 0": (
        config_text(extra="plugins: 0"),
        ["plugins: expected a list of module names, got 0"],
    ),
    "mixed_precision a string": (
        config_text(extra="mixed_precision: 'yes'"),
        ["mixed_precision: expected true or false, got 'yes'"],
    ),
    "mixed_precision on CPU trials": (
        config_text(extra="mixed_precision: true"),
        ["workloads[0] (mnist1d-mlp): mixed_precision needs GPU trials", "resources.gpus_per_trial > 0"],
    ),
    "probes a string": (
        config_text(extra="probes: 'yes'"),
        ["probes: expected true or false, got 'yes'"],
    ),
    "probes without an inclusion pair": (
        config_text(optimizers="optimizers: [adam, rmsprop]", extra="probes: true"),
        ["probes: no two of the optimizers ['adam', 'rmsprop'] have a registered inclusion path",
         "set probes: false"],
    ),
    "workload mixed_precision a number": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, mixed_precision: 1}]"),
        ["workloads[0].mixed_precision: expected true or false, got 1"],
    ),
    "repeated top-level key": (
        config_text(extra="seed: 3"),
        [":7:1: duplicate key 'seed' (first at line 6)"],
    ),
    "repeated workload key": (
        config_text(workloads="workloads:\n  - name: mnist1d-mlp\n    steps: 4\n    steps: 5"),
        [":5:5: duplicate key 'steps' (first at line 4)"],
    ),
    "empty workloads": (
        config_text(workloads="workloads: []"),
        ["workloads: expected a non-empty list"],
    ),
    "unknown optimizer": (
        config_text(optimizers="optimizers: [sgd, lamb]"),
        ["optimizers: unknown optimizer 'lamb'", "valid choices:", "adam"],
    ),
    "duplicate optimizer": (
        config_text(optimizers="optimizers: [sgd, adam, sgd]"),
        ["optimizers: 'sgd' is listed twice"],
    ),
    "optimizers not a list": (
        config_text(optimizers="optimizers: sgd"),
        ["optimizers: expected a non-empty list of names"],
    ),
    "duplicate protocol": (
        config_text(protocols="protocols: [lr-only, lr-only]"),
        ["protocols: 'lr-only' is listed twice"],
    ),
    "trials_per_search 0": (
        config_text(trials_per_search="trials_per_search: 0"),
        ["trials_per_search: expected an integer >= 1, got 0"],
    ),
    "trials_per_search ten": (
        config_text(trials_per_search="trials_per_search: ten"),
        ["trials_per_search: expected an integer >= 1, got 'ten'"],
    ),
    "trials_per_search float": (
        config_text(trials_per_search="trials_per_search: 2.5"),
        ["trials_per_search: expected an integer >= 1, got 2.5"],
    ),
    "trials_per_search bool": (
        config_text(trials_per_search="trials_per_search: true"),
        ["trials_per_search: expected an integer >= 1, got True"],
    ),
    "negative seed": (config_text(seed="seed: -1"), ["seed: expected an integer >= 0, got -1"]),
    "resources unknown key": (
        config_text(extra="resources: {cpus_per_trial: 1, memory: 4}"),
        ["resources: unknown key 'memory'", "allowed:", "gpus_per_trial"],
    ),
    "resources not a mapping": (
        config_text(extra="resources: [1, 2]"),
        ["resources: expected a mapping"],
    ),
    "resources zero cpus": (
        config_text(extra="resources: {cpus_per_trial: 0}"),
        ["resources.cpus_per_trial: expected a number >= 0.01, got 0"],
    ),
    "resources max_concurrent_trials 0": (
        config_text(extra="resources: {max_concurrent_trials: 0}"),
        ["resources.max_concurrent_trials: expected an integer >= 1, got 0"],
    ),
    "resources memory_per_trial 0": (
        config_text(extra="resources: {memory_per_trial: 0}"),
        ["resources.memory_per_trial: expected a number >= 0.001, got 0"],
    ),
    "resources memory_per_trial a string": (
        config_text(extra="resources: {memory_per_trial: 4GB}"),
        ["resources.memory_per_trial: expected a number >= 0.001, got '4GB'"],
    ),
    "negative max_failures": (
        config_text(extra="max_failures: -1"),
        ["max_failures: expected an integer >= 0, got -1"],
    ),
    "report_every_s nan": (
        config_text(extra="report_every_s: .nan"),
        ["report_every_s: expected a number >= 0"],
    ),
    "bundle_size zero": (
        config_text(extra="bundle_size: 0"),
        ["bundle_size: expected an integer >= 1 or 'auto', got 0"],
    ),
    "bundle_size word": (
        config_text(extra="bundle_size: max"),
        ["bundle_size: expected an integer >= 1 or 'auto', got 'max'"],
    ),
    "workload bundle_size float": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, bundle_size: 2.5}]"),
        ["workloads[0].bundle_size: expected an integer >= 1 or 'auto', got 2.5"],
    ),
    "invalid YAML": ("name: exp\nworkloads: [mnist1d-mlp\n", [":3:1: not valid YAML: expected ',' or ']'"]),
    "not a mapping": ("- name: exp\n", ["expected a mapping with keys", "trials_per_search"]),
    "protocol file with a bad field": Broken(
        config_text(protocols="protocols: [bad-protocol.yaml]", optimizers="optimizers: [sgd]"),
        ["optimizers.sgd.beta1: not a hyperparameter of sgd"],
        {"bad-protocol.yaml": protocol_text("  sgd:\n    learning_rate: 0.1\n    beta1: 0.9\n")},
        names="bad-protocol.yaml",
    ),
    "optimizer missing from the protocol": Broken(
        config_text(protocols="protocols: [sgd-only.yaml]"),
        ["no search space for optimizer 'adam'", "the protocol defines: sgd"],
        {"sgd-only.yaml": "name: sgd-only\nschedule: constant\noptimizers:\n  sgd: {learning_rate: 0.1}\n"},
        names="sgd-only.yaml",
    ),
    "two protocols sharing a name": Broken(
        config_text(protocols="protocols: [one.yaml, two.yaml]", optimizers="optimizers: [sgd]"),
        ["protocols: protocols[0] (one.yaml) and protocols[1] (two.yaml) share the name 'same'"],
        {
            f"{stem}.yaml": "name: same\nschedule: constant\noptimizers:\n  sgd: {learning_rate: 0.1}\n"
            for stem in ("one", "two")
        },
    ),
    "unknown protocol name": (
        config_text(protocols="protocols: [lr-only, wilson2099]"),
        ["protocols[1]: unknown protocol 'wilson2099'", "choi-full", "lr-only"],
    ),
    "missing protocol file": (
        config_text(protocols="protocols: [missing.yaml]"),
        ["protocols[0]: unknown protocol 'missing.yaml'"],
    ),
    "studies: 0": (config_text(extra="studies: 0"), ["studies: expected an integer >= 1, got 0"]),
    "negative checkpoint interval": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, checkpoint_every_s: -1}]"),
        ["workloads[0].checkpoint_every_s: expected a number >= 0, got -1"],
    ),
    "zero time limit": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, trial_time_limit_s: 0}]"),
        ["workloads[0].trial_time_limit_s: expected a finite number of seconds > 0, got 0"],
    ),
    "stall timeout not a number": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, stall_timeout_s: soon}]"),
        ["workloads[0].stall_timeout_s: expected a finite number of seconds > 0, got 'soon'"],
    ),
    "zero workers per trial": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, workers_per_trial: 0}]"),
        ["workloads[0].workers_per_trial: expected an integer >= 1, got 0"],
    ),
    "workers per trial not an integer": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, workers_per_trial: 1.5}]"),
        ["workloads[0].workers_per_trial: expected an integer >= 1, got 1.5"],
    ),
    "workers per trial with bundles": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, workers_per_trial: 2, bundle_size: 4}]"),
        ["workloads[0].workers_per_trial: 2 data-parallel workers per trial cannot be combined with bundle_size 4",
         "set bundle_size: 1 for this workload"],
    ),
    "workers per trial with the default bundle size auto": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, workers_per_trial: 2}]", extra="bundle_size: auto"),
        ["workloads[0].workers_per_trial: 2 data-parallel workers per trial cannot be combined with bundle_size 'auto'"],
    ),
    "workers per trial that do not divide the batch": (
        config_text(workloads="workloads: [{name: mnist1d-mlp, workers_per_trial: 3}]"),
        ["workloads[0].workers_per_trial: the batch of 128 examples of 'mnist1d-mlp' does not split evenly over 3",
         "divides 128"],
    ),
    "billion laughs in the description": (
        config_text(extra=laughs()),
        [":12:10: aliases expand the document past 100000 nodes (at *l4, 66430 nodes each time)",
         "a config needs no aliases that multiply"],
    ),
    "plan larger than the maximum": (
        config_text(trials_per_search="trials_per_search: 10000000"),
        ["trials_per_search: the config plans 1 workloads x 1 protocols x 2 optimizers x 1 studies x "
         "10000000 trials_per_search = 20000000 trials, more than the 1000000 a study may have"],
    ),
    "plan larger than the maximum through studies": (
        config_text(trials_per_search="trials_per_search: 1000", extra="studies: 1000"),
        ["= 2000000 trials, more than the 1000000"],
    ),
    "too few trials for the stages": (
        config_text(protocols="protocols: [choi-two-stage]", trials_per_search="trials_per_search: 2"),
        ["trials_per_search: protocol 'choi-two-stage' splits 2 trials per search into initial 1, final 1",
         "stage 'initial' needs at least 2"],
    ),
}


def _write_config(tmp_path: Path, case: str) -> Broken:
    """Write the case's config as ``exp.yaml`` and its other files beside it."""
    broken = Broken(*BROKEN_CONFIGS[case])
    (tmp_path / "exp.yaml").write_text(broken.text)
    for name, text in broken.files.items():
        (tmp_path / name).write_text(text)
    return broken


@pytest.mark.parametrize("case", sorted(BROKEN_CONFIGS))
def test_broken_config_is_input_error_naming_file_and_field(tmp_path, case):
    broken = _write_config(tmp_path, case)
    with pytest.raises(InputError) as info:
        load_config(tmp_path / "exp.yaml")
    message = str(info.value)
    assert str(tmp_path / broken.names) in message
    for fragment in broken.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("case", sorted(BROKEN_CONFIGS))
def test_broken_config_through_the_cli_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(tmp_path)
    broken = _write_config(tmp_path, case)
    code, err = _plan_cli(tmp_path, tmp_path / "exp.yaml", capsys)
    assert code == 2, err
    assert err.startswith("optcompare plan: error: ") and str(tmp_path / broken.names) in err
    for fragment in broken.fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def test_billion_laughs_and_huge_plans_are_refused_within_a_second(tmp_path, capsys):
    """Before: a billion laughs in ``description:`` ran 84 s into MemoryError, and
    ``trials_per_search: 10000000`` planned for minutes; now both are exit 2 at once."""
    import time

    for case in ("billion laughs in the description", "plan larger than the maximum"):
        _write_config(tmp_path, case)
        started = time.perf_counter()
        code, err = _plan_cli(tmp_path, tmp_path / "exp.yaml", capsys)
        assert code == 2 and "error:" in err
        assert time.perf_counter() - started < 1.0, case


def test_a_file_past_the_size_bound_is_refused_unread(tmp_path, monkeypatch):
    import tuning.spec.yaml_io as yaml_io

    monkeypatch.setattr(yaml_io, "MAX_YAML_BYTES", 100)
    path = tmp_path / "exp.yaml"
    path.write_text(config_text(extra="description: " + "x" * 200))
    with pytest.raises(InputError, match=r"exp.yaml: \d+ bytes, more than the 100 a config or protocol file may have"):
        load_config(path)


def test_a_merge_key_reusing_an_anchor_stays_allowed(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nmore: [*b, *b]\n")
    from tuning.spec.yaml_io import read_yaml

    assert read_yaml(path)["more"] == [{"x": 1, "y": 2}] * 2


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
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0.5, "max_concurrent_trials": 4, "memory_per_trial": 2.5},
        "bundle_size": "auto", "mixed_precision": False,
    }
    path = tmp_path / "valid.yaml"
    path.write_text(yaml.safe_dump(valid))
    load_config(path)
    assert _fuzz(tmp_path, valid, load_config) == []
