"""Quasi-random search points: scrambled Halton (Bousquet et al. 2017), contract 2 of DESIGN.md.

``sample(space, num_trials, seed)`` maps the first ``num_trials`` points of
``scipy.stats.qmc.Halton(d, scramble=True, rng=seed)`` into the search space, one dimension per
hyperparameter in sorted name order. For a unit coordinate ``u`` in [0, 1):

- ``{"min": a, "max": b, "scaling": "linear"}``:  a + u * (b - a)
- ``{"min": a, "max": b, "scaling": "log"}``:     exp(log a + u * (log b - log a))   (needs a > 0)
- ``{"feasible_points": [p0, ..., pk-1]}``:       p_floor(u * k)

Because Halton points are generated in sequence, trial ``i`` is always point ``i``:
``sample(space, n, s)[:m] == sample(space, m, s)``, whatever the parallelism or resumption.
(Unlike Optuna's QMCSampler, point 0 is a Halton point too, not a random draw.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import qmc

__all__ = ["sample", "unit_points", "validate_space"]

SCALINGS = ("linear", "log")


def validate_space(space: dict[str, Any], where: str = "space") -> None:
    """Raise ValueError naming the field path and what is allowed when ``space`` is malformed."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{where}: expected a non-empty mapping of hyperparameter -> range")
    for name, dim in space.items():
        path = f"{where}.{name}"
        if not isinstance(dim, dict):
            raise ValueError(
                f"{path}: expected {{min, max, scaling}} or {{feasible_points}}, got {dim!r}"
            )
        if "feasible_points" in dim:
            extra = set(dim) - {"feasible_points"}
            points = dim["feasible_points"]
            if extra:
                raise ValueError(f"{path}: unknown keys {sorted(extra)} beside feasible_points")
            if not isinstance(points, list) or not points:
                raise ValueError(f"{path}.feasible_points: expected a non-empty list, got {points!r}")
            continue
        extra = set(dim) - {"min", "max", "scaling"}
        if extra:
            raise ValueError(
                f"{path}: unknown keys {sorted(extra)}; allowed: min, max, scaling or feasible_points"
            )
        missing = [k for k in ("min", "max", "scaling") if k not in dim]
        if missing:
            raise ValueError(f"{path}: missing {', '.join(missing)}")
        low, high, scaling = dim["min"], dim["max"], dim["scaling"]
        for key, value in (("min", low), ("max", high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{path}.{key}: expected a finite number, got {value!r}")
        if scaling not in SCALINGS:
            raise ValueError(f"{path}.scaling: {scaling!r} is not one of {', '.join(SCALINGS)}")
        if not low < high:
            raise ValueError(f"{path}: min ({low!r}) must be below max ({high!r})")
        if scaling == "log" and low <= 0:
            raise ValueError(f"{path}: a log range needs min > 0, got min={low!r}")


def unit_points(dims: int, num_trials: int, seed: int) -> np.ndarray:
    """The first ``num_trials`` scrambled Halton points in [0, 1)^dims, shape (num_trials, dims)."""
    if num_trials < 0:
        raise ValueError(f"num_trials must be >= 0, got {num_trials}")
    if num_trials == 0:
        return np.zeros((0, dims))
    return qmc.Halton(dims, scramble=True, rng=np.random.default_rng(seed)).random(num_trials)


def _scale(dim: dict[str, Any], u: np.ndarray) -> list[Any]:
    if "feasible_points" in dim:
        points = dim["feasible_points"]
        idx = np.minimum((u * len(points)).astype(int), len(points) - 1)
        return [points[i] for i in idx]
    low, high = float(dim["min"]), float(dim["max"])
    if dim["scaling"] == "log":
        values = np.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        values = low + u * (high - low)
    return np.clip(values, low, high).tolist()


def sample(space: dict[str, Any], num_trials: int, seed: int) -> list[dict[str, Any]]:
    """``num_trials`` points of ``space``; same seed, same list; prefixes are stable."""
    validate_space(space)
    names = sorted(space)
    u = unit_points(len(names), num_trials, seed)
    columns = {name: _scale(space[name], u[:, j]) for j, name in enumerate(names)}
    return [{name: columns[name][i] for name in names} for i in range(num_trials)]
