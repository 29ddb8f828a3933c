"""A tuned coordinate's range as a search space gives it (:class:`SpaceRange`) and where values fall in it (:func:`position_in_range`): 0 at the low end, 1 at the high end, on the range's own scale (log, linear, or the index among a list of points)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SpaceRange",
    "position_in_range",
]


@dataclass(frozen=True)
class SpaceRange:
    """A tuned coordinate's range: ``scaling`` is ``log``, ``linear`` or ``points``
    (``points`` holds the sorted feasible points), ``source`` is ``experiment`` or ``observed``."""

    low: float
    high: float
    scaling: str
    points: tuple[float, ...] = ()
    source: str = "experiment"


def position_in_range(values: np.ndarray, rng: SpaceRange) -> np.ndarray:
    """Positions in [0, 1] of ``values`` in ``rng`` (module doc); NaN where undefined."""
    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if rng.scaling == "points":
            if len(rng.points) < 2:
                return np.full(v.shape, np.nan)
            pts = np.asarray(rng.points)
            idx = np.abs(v[..., None] - pts).argmin(axis=-1)
            return np.where(np.isfinite(v), idx / (len(pts) - 1), np.nan)
        if rng.high <= rng.low:
            return np.full(v.shape, np.nan)
        if rng.scaling == "log":
            if rng.low <= 0:
                return np.full(v.shape, np.nan)
            return (np.log(v) - math.log(rng.low)) / (math.log(rng.high) - math.log(rng.low))
        return (v - rng.low) / (rng.high - rng.low)
