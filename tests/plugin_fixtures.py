"""A user plugin module, written into a temp dir by the ``user_plugin`` fixture (conftest.py)."""

from __future__ import annotations

PLUGIN_MODULE = "optcompare_test_plugin"
PLUGIN_SOURCE = '''
"""Registers torch.optim.Adagrad as `plain-adagrad`, with a default search space and the limit
inclusion sgd <= plain-adagrad (eps -> inf, learning rate scaled by eps)."""
import torch

import optimizers


def _sgd_to_adagrad(hp, schedule, eps):
    return (
        {"learning_rate": hp["learning_rate"] * eps, "epsilon": eps, "weight_decay": hp["weight_decay"]},
        lambda t: schedule(t) * eps,
    )


optimizers.register(
    optimizers.OptimizerSpec(
        name="plain-adagrad",
        factory=torch.optim.Adagrad,
        defaults={"learning_rate": 0.01, "epsilon": 1e-10, "weight_decay": 0.0},
        description="torch.optim.Adagrad, registered by a plugin",
        search_space={
            "learning_rate": {"min": 1e-3, "max": 1.0, "scaling": "log"},
            "epsilon": {"min": 1e-10, "max": 1e-6, "scaling": "log"},
            "decay_steps_factor": 1.0,
            "decay_factor": 0.01,
        },
    )
)
optimizers.register_inclusion(
    optimizers.Inclusion("sgd", "plain-adagrad", _sgd_to_adagrad, exact=False, description="eps -> inf")
)
'''

# Slow on purpose, so integration tests can act mid-study however fast the machine is.
SLOW_PLUGIN = '''
"""SGD that sleeps 10 ms per step, so a trial lasts a known wall time on any machine."""
import time

import optimizers


class SlowSGD(optimizers.GeneralizedOptimizer):
    def step(self, closure=None):
        time.sleep(0.01)
        return super().step(closure)


SGD = optimizers.get_spec("sgd")
SPACE = {"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0, "decay_factor": 0.1}
for name in ("slow-sgd", "slow-sgd-2"):
    # Not bundlable (the default for a subclass): a bundle would skip the sleep in step().
    optimizers.register_preset(
        name, SGD.structure, {"learning_rate": 0.01, "weight_decay": 0.0}, search_space=SPACE,
        optimizer_class=SlowSGD,
    )
'''
