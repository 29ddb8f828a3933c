"""``laddered-adagrad``: torch.optim.Adagrad whose default space asks for ``from_trials``, which
only a quasi-random search takes (a default space that cannot fit a grid protocol)."""

from __future__ import annotations

import torch

import optimizers

optimizers.register(
    optimizers.OptimizerSpec(
        name="laddered-adagrad",
        factory=torch.optim.Adagrad,
        defaults={"learning_rate": 0.01, "epsilon": 1e-10, "weight_decay": 0.0},
        search_space={"learning_rate": {"min": 1e-3, "max": 1.0, "scaling": "log", "from_trials": 4}},
    )
)
