"""Registers torch.optim.Adagrad as ``plain-adagrad``, with a default search space and the limit
inclusion sgd <= plain-adagrad (eps -> inf, learning rate scaled by eps): a user's plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import optimizers


def _sgd_to_adagrad(
    hp: dict[str, Any], schedule: Callable[[int], float], eps: float
) -> tuple[dict[str, Any], Callable[[int], float]]:
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
