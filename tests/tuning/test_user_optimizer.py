"""A user's optimizer, registered by a plugin, is treated like the built-ins."""

from __future__ import annotations

import pytest
import torch

import optimizers
from optcompare.errors import InputError
from tuning.plan.resolve import resolve_plan
from tuning.spec.config import load_config

CONFIG = """name: plug
plugins: [{module}]
workloads: [{{name: mnist1d-mlp, steps: 40, eval_every: 20}}]
optimizers: [sgd, plain-adagrad]
protocols: [lr-only]
trials_per_search: 3
"""


def test_plugin_optimizer_is_created_planned_and_its_inclusion_checked(tmp_path, user_plugin):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(module=user_plugin))
    plan = resolve_plan(load_config(config))
    assert "plain-adagrad" in optimizers.names()
    adagrad = [t for t in plan if t.optimizer == "plain-adagrad"]
    assert len(adagrad) == 3
    # lr-only does not mention it: the registered default space is used (under lr-only's schedule).
    assert set(adagrad[0].tuned) == {"learning_rate", "epsilon"}
    assert all(1e-3 <= t.hparams["learning_rate"] <= 1.0 for t in adagrad)
    assert adagrad[0].schedule_params == {"decay_steps_factor": 1.0, "decay_factor": 0.01}

    opt = optimizers.create("plain-adagrad", [torch.zeros(2, requires_grad=True)], learning_rate=0.5)
    assert isinstance(opt, torch.optim.Adagrad) and opt.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match="has no hyperparameter 'beta1'"):
        optimizers.create("plain-adagrad", [torch.zeros(2)], beta1=0.9)

    check = optimizers.check_inclusion("sgd", "plain-adagrad", {"learning_rate": 0.1}, (1e2, 1e4, 1e6), steps=100)
    assert check.passed and not check.exact, check.reason
    gaps = [g for _, g in check]
    assert gaps[1] < gaps[0] / 50 and gaps[2] < gaps[1] / 50


def test_missing_plugin_module_is_bad_input(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(module="no_such_plugin_module"))
    with pytest.raises(InputError, match=r"plugins\[0\]: cannot import plugin module 'no_such_plugin_module'"):
        load_config(config)


def test_unknown_optimizer_without_plugin_lists_choices(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(module="json").replace("plugins: [json]\n", ""))
    with pytest.raises(InputError, match="unknown optimizer 'plain-adagrad'"):
        load_config(config)


@pytest.mark.parametrize(
    ("protocol", "lr_points", "schedule_params"),
    [
        ("deepobs2019", 36, set()),  # the protocol's own 36-point learning-rate grid
        ("wilson2017", 6, {"step_decay_factor", "step_decay_every_factor"}),
    ],
)
def test_plugin_default_space_becomes_a_grid_under_grid_protocols(
    tmp_path, user_plugin, protocol, lr_points, schedule_params
):
    from tuning.spec.default_search import GRID_POINTS_OTHER
    from tuning.spec.protocol import load_protocol

    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(module=user_plugin).replace("[lr-only]", f"[{protocol}]"))
    plan = [t for t in resolve_plan(load_config(config)) if t.optimizer == "plain-adagrad"]
    search = load_protocol(protocol).for_optimizer("plain-adagrad")
    # learning_rate 1e-3..1 (log) on the protocol's grid size; epsilon 1e-10..1e-6 on 3 points
    assert len(search.space["learning_rate"]["feasible_points"]) == lr_points
    assert search.space["epsilon"]["feasible_points"] == pytest.approx([1e-10, 1e-8, 1e-6], rel=1e-9)
    schedule_grid = 2 if protocol == "wilson2017" else 1  # wilson2017's step_decay_factor: [0.1, 0.5]
    assert len(plan) == lr_points * GRID_POINTS_OTHER * schedule_grid
    lrs = sorted({t.hparams["learning_rate"] for t in plan})
    assert lrs[0] == 1e-3 and lrs[-1] == 1.0
    ratios = [b / a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert ratios == pytest.approx([ratios[0]] * len(ratios))  # log-spaced
    # the linear-decay parameters of the default space are dropped; the protocol's schedule
    # parameters come from the protocol's own entries
    assert all(set(t.schedule_params) == schedule_params for t in plan)
    if protocol == "wilson2017":
        assert {t.schedule_params["step_decay_factor"] for t in plan} == {0.1, 0.5}
        assert {t.schedule_params["step_decay_every_factor"] for t in plan} == {0.1}


def test_plugin_default_space_that_cannot_fit_a_grid_says_to_add_it_to_the_protocol(use_plugin):
    from tuning.spec.plugins import load_plugins
    from tuning.spec.protocol import load_protocol

    load_plugins([use_plugin("laddered_adagrad")], where="test")
    protocol = load_protocol("deepobs2019")
    with pytest.raises(InputError) as err:
        protocol.for_optimizer("laddered-adagrad")
    message = str(err.value)
    assert message.startswith(f"{protocol.source}: protocol 'deepobs2019' has no entry for optimizer 'laddered-adagrad'")
    assert "learning_rate.from_trials: only a quasirandom search takes from_trials" in message
    assert f"add an entry for 'laddered-adagrad' under optimizers: in {protocol.source}" in message
