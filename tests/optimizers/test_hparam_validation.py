"""Bad and edge hyperparameters, however they arrive: ``create`` keywords, param-group
overrides, direct construction of ``GeneralizedOptimizer``, ``add_param_group``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import optimizers
from optcompare.errors import InputError
from tests.optimizers.trajectories import case_id

# --------------------------------------------------------------------------------------------
# 1. Bad and edge values through create
# --------------------------------------------------------------------------------------------


def _params():
    return [torch.nn.Parameter(torch.zeros(2))]


BAD_HPARAMS = [
    ("sgd", {"learning_rate": 0.0}, r"learning_rate=0\.0 is out of range; valid range: \(0, inf\)"),
    ("adam", {"learning_rate": -1}, r"learning_rate=-1 is out of range; valid range: \(0, inf\)"),
    ("sgd", {"learning_rate": math.nan}, r"learning_rate=nan .*valid range: \(0, inf\)"),
    ("sgd", {"learning_rate": math.inf}, r"learning_rate=inf .*valid range: \(0, inf\)"),
    ("momentum", {"momentum": 1.0}, r"momentum=1\.0 .*valid range: \[0, 1\)"),
    ("nesterov", {"momentum": -0.1}, r"momentum=-0\.1 .*valid range: \[0, 1\)"),
    ("rmsprop", {"momentum": 1.0}, r"momentum=1\.0 .*valid range: \[0, 1\)"),
    ("adam", {"beta1": 1.0}, r"beta1=1\.0 .*valid range: \[0, 1\)"),
    ("nadam", {"beta2": 1.5}, r"beta2=1\.5 .*valid range: \[0, 1\)"),
    ("adam", {"beta2": 1.0}, r"beta2=1\.0 .*valid range: \[0, 1\)"),
    ("adam", {"epsilon": -1e-8}, r"epsilon=-1e-08 .*valid range: \(0, inf\)"),
    ("adam", {"epsilon": 0.0}, r"epsilon=0\.0 .*valid range: \(0, inf\)"),
    ("nadam", {"epsilon": 0.0}, r"epsilon=0\.0 .*valid range: \(0, inf\)"),
    ("rmsprop", {"epsilon": -1.0}, r"epsilon=-1\.0 .*valid range: \[0, inf\)"),
    ("rmsprop", {"rho": 1.5}, r"rho=1\.5 .*valid range: \[0, 1\]"),
    # eps = 0 with rho < 1: v reaches 0 where g = 0 and g / sqrt(v + eps) is 0/0.
    ("rmsprop", {"rho": 0.0, "epsilon": 0.0}, r"epsilon=0\.0 requires rho=1 \(got rho=0\.0\).*0/0"),
    ("rmsprop", {"epsilon": 0.0}, r"epsilon=0\.0 requires rho=1 \(got rho=0\.9\)"),
    ("rmsprop", {"rho": 0.999999, "epsilon": 0}, r"epsilon=0\.0 requires rho=1 .*epsilon = 0 with rho = 1"),
    ("rmsprop", {"rho": -0.5}, r"rho=-0\.5 .*valid range: \[0, 1\]"),
    ("sgd", {"weight_decay": -1}, r"weight_decay=-1 .*valid range: \[0, inf\)"),
    ("sgd", {"learning_rate": "0.1"}, r"learning_rate='0\.1' is not a number"),
    ("sgd", {"learning_rate": None}, r"learning_rate=None is not a number"),
    ("momentum", {"momentum": True}, r"momentum=True is not a number"),
    ("sgd", {"beta1": 0.9}, r"'sgd' has no hyperparameter 'beta1'; valid names: learning_rate"),
    ("adam", {"momentum": 0.9}, r"'adam' has no hyperparameter 'momentum'; valid names: .*beta1"),
    ("adam", {"lr": 0.1}, r"'adam' has no hyperparameter 'lr'"),
    ("rmsprop", {"beta2": 0.9}, r"'rmsprop' has no hyperparameter 'beta2'; .*rho, epsilon"),
]


@pytest.mark.parametrize(
    ("name", "hp", "match"), BAD_HPARAMS, ids=[f"{n}-{next(iter(h))}" for n, h, _ in BAD_HPARAMS]
)
def test_bad_hparams_raise_input_error(name, hp, match):
    with pytest.raises(InputError, match=match) as info:
        optimizers.create(name, _params(), **hp)
    assert str(info.value).startswith(name) or repr(name) in str(info.value)


def test_unknown_optimizer_lists_valid_names():
    with pytest.raises(
        ValueError,
        match=r"unknown optimizer 'shampoo'; valid choices: sgd, momentum, nesterov, rmsprop, adam, "
        r"nadam, adamw, nadamw, lion, muon, soap, schedule-free-adamw",
    ):
        optimizers.create("shampoo", _params())


def test_params_as_set_rejected():
    with pytest.raises(ValueError, match=r"ordered iterable .*not a set"):
        optimizers.create("sgd", set(_params()))
    with pytest.raises(ValueError, match=r"not a set"):
        optimizers.create("sgd", frozenset(_params()))


GOOD_EDGES = [
    ("rmsprop", {"rho": 1.0}),
    ("rmsprop", {"rho": 0.0, "epsilon": 1e-300, "momentum": 0.0}),
    ("momentum", {"momentum": 0.0}),
    ("adam", {"beta1": 0.0, "beta2": 0.0, "epsilon": 1e-300}),
    ("rmsprop", {"rho": 1.0, "epsilon": 0.0}),
    ("nadam", {"epsilon": 1e12, "learning_rate": 1e12}),
    ("sgd", {"learning_rate": 1}),  # an int is a number
    ("sgd", {"learning_rate": np.float64(0.1)}),
]


@pytest.mark.parametrize(("name", "hp"), GOOD_EDGES, ids=[case_id(c) for c in GOOD_EDGES])
def test_edge_values_accepted(name, hp):
    opt = optimizers.create(name, _params(), **hp)
    group = opt.param_groups[0]
    for key, value in hp.items():
        torch_key = {"learning_rate": "lr", "epsilon": "eps"}.get(key, key)
        assert group[torch_key] == float(value)
        assert type(group[torch_key]) is float


def test_defaults_filled_in_with_torch_keys():
    opt = optimizers.create("adam", _params())
    group = opt.param_groups[0]
    assert {k: group[k] for k in ("lr", "beta1", "beta2", "eps", "weight_decay")} == {
        "lr": 0.001,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert optimizers.create("rmsprop", _params()).param_groups[0]["eps"] == 1e-10




def test_numpy_scalars_are_accepted_as_hyperparameters():
    p = torch.zeros(2, requires_grad=True)
    opt = optimizers.create("adam", [p], learning_rate=np.float32(0.5), beta1=np.float64(0.5))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)


def test_param_group_overrides_use_project_names_and_are_validated():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    opt = optimizers.create(
        "momentum", [{"params": [a]}, {"params": [b], "learning_rate": 0.5, "momentum": 0.0}],
        learning_rate=0.1,
    )
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.0]
    with pytest.raises(ValueError, match=r"momentum: learning_rate=-1\.0 is out of range"):
        optimizers.create("momentum", [{"params": [a], "learning_rate": -1.0}])
    torch_style = optimizers.create("momentum", [{"params": [a], "lr": 0.5}])
    assert torch_style.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match=r"sets 'learning_rate' twice"):
        optimizers.create("momentum", [{"params": [a], "lr": 0.5, "learning_rate": 0.1}])
    with pytest.raises(ValueError, match=r"has no hyperparameter 'beta1'"):
        optimizers.create("momentum", [{"params": [a], "beta1": 0.5}])


# --------------------------------------------------------------------------------------------
# 2. Every param group is checked, however it arrives
# --------------------------------------------------------------------------------------------


def test_set_inside_a_param_group_is_a_value_error():
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=r"sgd: a param group's 'params' must be an ordered iterable .*not a set"):
        optimizers.create("sgd", [{"params": {p}}])
    with pytest.raises(ValueError, match=r"not a set"):
        optimizers.create("sgd", [{"params": frozenset([p])}])
    opt = optimizers.create("sgd", [torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match=r"a param group's 'params' must be an ordered iterable .*not a set"):
        opt.add_param_group({"params": {p}})


BAD_DIRECT = [
    ("adam", {"lr": 0.1, "beta1": 5, "beta2": 0.9, "eps": 1e-8}, r"beta1=5 is out of range; valid range: \[0, 1\)"),
    ("sgd", {"lr": -1}, r"lr=-1 is out of range; valid range: \(0, inf\)"),
    ("sgd", {"lr": "fast"}, r"lr='fast' is not a number"),
    ("adam", {"lr": 0.1, "beta1": 0.9, "beta2": 0.9, "eps": 0.0}, r"eps=0\.0 is out of range; valid range: \(0, inf\)"),
    ("adam", {"lr": 0.1, "beta1": 0.9, "eps": 1e-8}, r"a param group needs 'beta2'"),
    ("rmsprop", {"lr": 0.1, "momentum": 0.0, "rho": 0.5, "eps": 0.0}, r"eps=0\.0 requires rho=1 \(got rho=0\.5\)"),
    ("momentum", {"lr": 0.1, "momentum": 0.9, "weight_decay": -1.0}, r"weight_decay=-1\.0 is out of range"),
]


@pytest.mark.parametrize(("name", "defaults", "match"), BAD_DIRECT, ids=[m[:12] for _, _, m in BAD_DIRECT])
def test_direct_construction_checks_the_values(name, defaults, match):
    from optimizers.presets import STRUCTURES

    with pytest.raises(InputError, match=rf"GeneralizedOptimizer: {match}"):
        optimizers.GeneralizedOptimizer(_params(), defaults, STRUCTURES[name])


def test_added_param_groups_are_checked_with_defaults_filled_in():
    opt = optimizers.create("rmsprop", _params(), rho=1.0, epsilon=0.0)
    extra = torch.nn.Parameter(torch.zeros(3))
    # rho overridden, eps = 0 inherited from the defaults: 0/0 where g = 0.
    with pytest.raises(ValueError, match=r"eps=0\.0 requires rho=1 \(got rho=0\.5\)"):
        opt.add_param_group({"params": [extra], "rho": 0.5})
    with pytest.raises(ValueError, match=r"momentum=1\.0 is out of range; valid range: \[0, 1\)"):
        opt.add_param_group({"params": [extra], "momentum": 1.0})
    assert len(opt.param_groups) == 1  # nothing half-added
    opt.add_param_group({"params": [extra], "rho": 0.5, "eps": 1e-8})
    assert opt.param_groups[1]["rho"] == 0.5 and opt.param_groups[1]["lr"] == opt.param_groups[0]["lr"]
    # Through create: a group overriding rho alone meets the top-level epsilon = 0.
    with pytest.raises(ValueError, match=r"requires rho=1"):
        optimizers.create("rmsprop", [{"params": [extra], "rho": 0.5}], rho=1.0, epsilon=0.0)


def test_rmsprop_epsilon_zero_with_rho_one_survives_a_zero_gradient():
    """rho = 1 keeps v at 1, so eps = 0 is safe (the exact momentum <= rmsprop inclusion); with
    rho < 1 it would be 0/0 (now refused, see BAD_HPARAMS)."""
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = optimizers.create("rmsprop", [p], rho=1.0, epsilon=0.0, momentum=0.5)
    for _ in range(3):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.equal(p.detach(), torch.ones(3, dtype=torch.float64))
