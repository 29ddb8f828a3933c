"""Float64 numpy references of the update rules, used by the optimizer tests.

:func:`reference_run` is written from the six rules of Choi et al. (2019), section 2, alone
(not from ``optimizers/``), so that a shared mistake cannot hide. :func:`structure_reference_run`
is written from the equations of the generalized update (the docstring of
``optimizers/update.py``) alone, for any ``UpdateStructure``.
"""

from __future__ import annotations

import math

import numpy as np

REF_DEFAULTS = {
    "momentum": 0.0,
    "rho": 0.9,
    "epsilon": 0.0,
    "beta1": 0.9,
    "beta2": 0.999,
    "weight_decay": 0.0,
    "decoupled_weight_decay": 0.0,
}


def reference_run(name: str, hp: dict, theta0: np.ndarray, grads, lrs) -> list[np.ndarray]:
    """Trajectory theta_1..theta_T of optimizer ``name`` (float64), t = 0 at the first update."""
    h = {**REF_DEFAULTS, **hp}
    theta = np.array(theta0, dtype=np.float64)
    m = np.zeros_like(theta)  # first moment / heavy-ball buffer, m0 = 0
    v = np.ones_like(theta) if name == "rmsprop" else np.zeros_like(theta)  # RMSProp v0 = 1
    out = []
    for t, (g_raw, eta) in enumerate(zip(grads, lrs, strict=True)):
        g = np.asarray(g_raw, dtype=np.float64) + h["weight_decay"] * theta
        # Decoupled decay (AdamW convention): shrink theta by eta_t * lambda before the update.
        theta = theta * (1.0 - eta * h["decoupled_weight_decay"])
        if name == "sgd":
            theta = theta - eta * g
        elif name in ("momentum", "nesterov"):
            gamma = h["momentum"]
            m = gamma * m + g
            direction = m if name == "momentum" else gamma * m + g
            theta = theta - eta * direction
        elif name == "rmsprop":
            gamma, rho, eps = h["momentum"], h["rho"], h["epsilon"]
            v = rho * v + (1.0 - rho) * g**2
            m = gamma * m + eta * g / np.sqrt(v + eps)
            theta = theta - m
        elif name in ("adam", "nadam"):
            b1, b2, eps = h["beta1"], h["beta2"], h["epsilon"]
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * g**2
            b = math.sqrt(1.0 - b2 ** (t + 1)) / (1.0 - b1 ** (t + 1))
            numerator = m if name == "adam" else b1 * m + (1.0 - b1) * g
            theta = theta - eta * b * numerator / (np.sqrt(v) + eps)
        else:  # pragma: no cover - table typo
            raise AssertionError(name)
        out.append(theta.copy())
    return out


def structure_reference_run(structure, hp: dict, theta0: np.ndarray, grads, lrs) -> list[np.ndarray]:
    """Trajectory of the generalized update with ``structure``; ``hp`` in param-group keys (the
    structure's momentum and second-moment keys, ``eps``, the two weight decays; absent: 0)."""
    s = structure
    a = hp.get(s.momentum_key, 0.0) if s.momentum_key else 0.0
    rho = hp.get(s.second_moment_key, 0.0) if s.second_moment_key else 0.0
    eps, wd, dwd = (hp.get(k, 0.0) for k in ("eps", "weight_decay", "decoupled_weight_decay"))
    c = 1.0 - a if s.ema else 1.0
    theta = np.array(theta0, dtype=np.float64)
    m = np.zeros_like(theta)
    v = np.full_like(theta, s.v_init)
    out = []
    for t, (g_raw, eta) in enumerate(zip(grads, lrs, strict=True)):
        g = np.asarray(g_raw, dtype=np.float64) + wd * theta
        theta = theta * (1.0 - eta * dwd)
        if s.second_moment_key:
            v = rho * v + (1.0 - rho) * g**2
        u = g / np.sqrt(v + eps) if s.eps_placement == "inside" else g
        scale_in = eta if s.lr_placement == "inside" else 1.0
        if s.momentum_key:
            m = a * m + c * scale_in * u
            n = a * m + c * scale_in * u if s.nesterov else m
        else:
            n = scale_in * u
        b = math.sqrt(1.0 - rho ** (t + 1)) / (1.0 - a ** (t + 1)) if s.bias_correction else 1.0
        d = np.sqrt(v) + eps if s.eps_placement == "outside" else 1.0
        theta = theta - (eta if s.lr_placement == "outside" else 1.0) * b * n / d
        out.append(theta.copy())
    return out
