"""Intervals of valid values: of an optimizer's hyperparameters (:mod:`optimizers`) and of a
protocol's tuned coordinates (:mod:`optcompare.coordinates`). Importable without torch or ray."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Interval"]


@dataclass(frozen=True)
class Interval:
    """An interval of valid values, each end open or closed, printed as in maths: ``[0, 1)``."""

    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = True

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def phrase(self) -> str:
        """``> 0``, ``>= 0`` or ``in [0, 1]``: the interval in words."""
        if self.high == math.inf and self.low > -math.inf:
            return f"{'>=' if self.low_closed else '>'} {self.low:g}"
        return f"in {self}"

    def __str__(self) -> str:
        high = "inf" if math.isinf(self.high) else f"{self.high:g}"
        return (
            f"{'[' if self.low_closed else '('}{self.low:g}, {high}"
            f"{']' if self.high_closed else ')'}"
        )
