"""Quasi-random search points: scrambled Halton (Bousquet et al. 2017).

The sampling contract that plans and resumption rely on:

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
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import qmc

from optcompare.space import Points, Range, validate_space

__all__ = [
    "sample",
    "unit_points",
]


def unit_points(dims: int, num_trials: int, seed: int) -> np.ndarray:
    """The first ``num_trials`` scrambled Halton points in [0, 1)^dims, shape (num_trials, dims)."""
    if num_trials < 0:
        raise ValueError(f"num_trials must be >= 0, got {num_trials}")
    if num_trials == 0:
        return np.zeros((0, dims))
    return qmc.Halton(dims, scramble=True, rng=np.random.default_rng(seed)).random(num_trials)


def _scale(dim: Range | Points, u: np.ndarray) -> list[Any]:
    if isinstance(dim, Points):
        points = dim.feasible_points
        idx = np.minimum((u * len(points)).astype(int), len(points) - 1)
        return [points[i] for i in idx]
    low, high = float(dim.min), float(dim.max)
    if dim.scaling == "log":
        values = np.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        values = low + u * (high - low)
    return np.clip(values, low, high).tolist()


def sample(space: Mapping[str, Any], num_trials: int, seed: int) -> list[dict[str, Any]]:
    """``num_trials`` points of ``space`` (dimension models or their dicts); same seed, same
    list; prefixes are stable. A malformed space is an InputError naming the dimension."""
    dims = validate_space(space)
    names = sorted(dims)
    u = unit_points(len(names), num_trials, seed)
    columns = {name: _scale(dims[name], u[:, j]) for j, name in enumerate(names)}
    return [{name: columns[name][i] for name in names} for i in range(num_trials)]
