"""The refine rule's parameters (:class:`RefineRule`), as a stage's ``refine:`` or ``optcompare refine`` gives them; :mod:`tuning.plan.refine` applies the rule."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optcompare.coordinates import EFFECTIVE_LR
from optcompare.errors import ParameterError

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_BEST_FRACTION",
    "DEFAULT_EDGE",
    "DEFAULT_MARGIN",
    "RefineRule",
]


DEFAULT_BEST_FRACTION = 0.25


DEFAULT_MARGIN = 0.5


DEFAULT_EDGE = 0.05


@dataclass(frozen=True)
class RefineRule:
    """The rule's parameters: best fraction ``q`` or best count ``k`` (one of them; neither:
    q = 0.25), margin ``m`` > 0 (decades on log ranges, initial widths on linear ones) and edge
    ``e`` in (0, 0.5). Errors name the parameter."""

    best_fraction: float | None = None
    best_k: int | None = None
    margin: float = DEFAULT_MARGIN
    edge: float = DEFAULT_EDGE
    decoupled: bool = False
    """Refine heavy-ball momentum's learning rate as ``effective_learning_rate`` = learning_rate
    / (1 - momentum) next to ``one_minus_momentum`` (:func:`decouple`)."""

    def __post_init__(self) -> None:
        if self.best_fraction is not None and self.best_k is not None:
            raise ParameterError("best_k", "give {name} or {name:best_fraction}, not both")
        q = self.best_fraction
        if q is not None and not (_real(q) and 0.0 < q <= 1.0):
            raise ParameterError("best_fraction", f"{{name}} must be in (0, 1], got {q!r}")
        k = self.best_k
        if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2):
            raise ParameterError("best_k", f"{{name}} must be an integer >= 2, got {k!r}")
        if not (_real(self.margin) and 0.0 < self.margin < math.inf):
            raise ParameterError("margin", f"{{name}} must be a finite number > 0, got {self.margin!r}")
        if not (_real(self.edge) and 0.0 < self.edge < 0.5):
            raise ParameterError("edge", f"{{name}} must be in (0, 0.5), got {self.edge!r}")

    @property
    def fraction(self) -> float:
        return DEFAULT_BEST_FRACTION if self.best_fraction is None else float(self.best_fraction)

    def n_best(self, completed: int) -> int:
        """How many of ``completed`` trials count as the best (module doc)."""
        wanted = self.best_k if self.best_k is not None else math.ceil(self.fraction * completed)
        return min(completed, max(2, wanted))

    def phrase(self, select: str | None = None) -> str:
        """The rule in words: ``best 25% of the completed trials by val_error, margin 0.5 ...``."""
        best = f"best {self.best_k}" if self.best_k is not None else f"best {100 * self.fraction:g}%"
        by = f" by {select}" if select else ""
        decoupled = (
            f", decoupled ({EFFECTIVE_LR} = learning_rate / one_minus_momentum refined in place of "
            "learning_rate)" if self.decoupled else ""
        )
        return (
            f"{best} of the completed trials{by}, margin {self.margin:g} (decades on log ranges, "
            f"initial widths on linear ones), edge {self.edge:g}{decoupled}"
        )


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
