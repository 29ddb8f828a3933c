"""A user's optimizer, registered by a plugin, is treated like the built-ins."""

from __future__ import annotations

import pytest
import torch

import optimizers
from optcompare.errors import InputError
from tuning.config import load_config
from tuning.plan import resolve_plan

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

    gaps = [g for _, g in optimizers.check_inclusion("sgd", "plain-adagrad", {"learning_rate": 0.1}, (1e2, 1e4, 1e6), steps=100)]
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
