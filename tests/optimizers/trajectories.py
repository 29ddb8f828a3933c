"""Shared pieces of the optimizer tests: the presets' names, one small problem, and a run of
``optimizers.create`` over a trajectory (the lr set into param_groups before each step)."""

from __future__ import annotations

import numpy as np
import torch

import optimizers

NAMES = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam"]
SHAPE = (3, 4)
N_STEPS = 5
# A learning rate that changes every step: RMSProp keeps eta_t inside its momentum buffer,
# the others scale the whole step, so a constant rate would hide a misplaced lr.
LRS = [0.1, 0.05, 0.2, 0.01, 0.3]


def run_ours(name: str, hp: dict, theta0, grads, lrs, dtype=torch.float64) -> list[torch.Tensor]:
    """Trajectory with ``optimizers.create``; lr set into param_groups before each step."""
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=dtype))
    opt = optimizers.create(name, [p], **{"learning_rate": lrs[0], **hp})
    out = []
    for g, eta in zip(grads, lrs, strict=True):
        opt.param_groups[0]["lr"] = eta
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        out.append(p.detach().clone())
    return out


def small_problem() -> tuple[np.ndarray, np.ndarray]:
    """theta0 of SHAPE and N_STEPS gradients, one entry exactly 0 (eps and v0 matter there)."""
    rng = np.random.default_rng(20190910)
    theta0 = rng.standard_normal(SHAPE)
    grads = rng.standard_normal((N_STEPS, *SHAPE))
    grads[2, 0, 0] = 0.0
    return theta0, grads


def case_id(case: tuple[str, dict]) -> str:
    """``name-key=value-...`` of a (name, hparams) table row."""
    name, hp = case
    return name + "-" + ("-".join(f"{k}={v:g}" for k, v in hp.items()) or "defaults")
