"""The six optimizers of PAPER.md section 2 as presets of :class:`GeneralizedOptimizer`.

Equations use ``g`` (gradient, plus ``weight_decay * theta`` when weight decay is on),
``eta_t`` (scheduled learning rate) and ``t = 0`` at the first update.

- ``sgd``:      theta <- theta - eta_t * g
- ``momentum``: v <- gamma*v + g;  theta <- theta - eta_t * v                       (v0 = 0)
- ``nesterov``: v <- gamma*v + g;  theta <- theta - eta_t * (gamma*v + g)
- ``rmsprop``:  v <- rho*v + (1-rho)*g^2;  m <- gamma*m + eta_t * g / sqrt(v + eps);
                theta <- theta - m                                       (v0 = 1, m0 = 0)
- ``adam``:     m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;
                theta <- theta - alpha_t * sqrt(1-b2^(t+1))/(1-b1^(t+1)) * m / (sqrt(v) + eps)
- ``nadam``:    as adam with numerator (b1*m + (1-b1)*g), m freshly updated.

Weight decay: ``weight_decay`` is the paper's coupled L2 (added to ``g``);
``decoupled_weight_decay`` shrinks the parameters directly, theta <- theta * (1 - eta_t * lambda),
before the update (the AdamW convention of torch.optim.AdamW).

Departures from torch.optim: Adam's eps is added to the uncorrected root (torch adds it to the
corrected one); NAdam has no momentum-decay schedule; RMSProp keeps eps inside the root, starts
v at 1 and puts the learning rate inside the momentum buffer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .generalized import GeneralizedOptimizer, UpdateStructure
from .registry import Interval, OptimizerSpec, register

STRUCTURES: dict[str, UpdateStructure] = {
    "sgd": UpdateStructure(None, False, False, None, 0.0, "none", "outside", False),
    "momentum": UpdateStructure("momentum", False, False, None, 0.0, "none", "outside", False),
    "nesterov": UpdateStructure("momentum", False, True, None, 0.0, "none", "outside", False),
    "rmsprop": UpdateStructure("momentum", False, False, "rho", 1.0, "inside", "inside", False),
    "adam": UpdateStructure("beta1", True, False, "beta2", 0.0, "outside", "outside", True),
    "nadam": UpdateStructure("beta1", True, True, "beta2", 0.0, "outside", "outside", True),
}
"""Structural switches of each preset (see :class:`UpdateStructure` for the fields)."""

DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"learning_rate": 0.01, "weight_decay": 0.0},
    "momentum": {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "nesterov": {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    "rmsprop": {
        "learning_rate": 0.001,
        "momentum": 0.0,
        "rho": 0.9,
        "epsilon": 1e-10,
        "weight_decay": 0.0,
    },
    "adam": {
        "learning_rate": 0.001,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
    },
    "nadam": {
        "learning_rate": 0.001,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
    },
}

DESCRIPTIONS: dict[str, str] = {
    "sgd": "plain stochastic gradient descent",
    "momentum": "heavy-ball momentum, v <- gamma*v + g (no dampening)",
    "nesterov": "Nesterov momentum, step along gamma*v + g",
    "rmsprop": "RMSProp with momentum; eps inside the root, v0 = 1, lr inside the buffer",
    "adam": "Adam; eps added to the uncorrected root (differs from torch.optim.Adam)",
    "nadam": "NAdam without momentum-decay schedule (differs from torch.optim.NAdam)",
}


def _preset_factory(name: str) -> Any:  # noqa: ANN401 - returns a factory callable
    structure = STRUCTURES[name]

    def factory(
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        foreach: bool | None = None,
        **defaults: float,
    ) -> torch.optim.Optimizer:
        return GeneralizedOptimizer(params, defaults, structure, foreach=foreach)

    factory.__name__ = f"{name}_factory"
    return factory


for _name, _defaults in DEFAULTS.items():
    register(
        OptimizerSpec(
            name=_name,
            factory=_preset_factory(_name),
            defaults={**_defaults, "decoupled_weight_decay": 0.0},
            # eps = 0 divides 0 by 0 wherever a gradient entry is exactly 0 (dead ReLU units).
            ranges=(
                {"epsilon": Interval(0.0, float("inf"), low_closed=False, high_closed=False)}
                if STRUCTURES[_name].eps_placement == "outside"
                else {}
            ),
            description=DESCRIPTIONS[_name],
            structure=STRUCTURES[_name],
        )
    )
