"""Intervals of valid hyperparameter values, shared by the registry and the optimizer itself."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Interval"]


@dataclass(frozen=True)
class Interval:
    """A closed or half-open interval of valid values, printed as in maths: ``[0, 1)``."""

    low: float
    high: float
    low_closed: bool = True
    high_closed: bool = True

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def __str__(self) -> str:
        high = "inf" if math.isinf(self.high) else f"{self.high:g}"
        return (
            f"{'[' if self.low_closed else '('}{self.low:g}, {high}"
            f"{']' if self.high_closed else ')'}"
        )
