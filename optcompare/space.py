"""Search-space dimensions as models: one searched coordinate is a range or a list of points.

- ``{min, max, scaling}``: a range, ``scaling`` linear or log (a log range needs min > 0);
- ``{feasible_points: [...]}``: a non-empty list of points.

In a protocol either may carry ``from_trials: N`` (quasi-random searches: searched only from N
trials per search on) and a range ``num: K`` (grid searches: K points evenly spaced in its
scaling, ends included, see :func:`grid_points`); which search takes which is checked where
the search kind is known (:mod:`tuning.spec.search`). A protocol's points must be finite numbers;
:func:`tuning.plan.quasirandom.sample` takes any points. Importable without torch or ray.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import Discriminator, PlainValidator, Tag, TypeAdapter, model_validator

from .validation import FieldError, FiniteNumber, StrictModel, integer, one_of, reading

__all__ = [
    "Dimension",
    "NumericPoints",
    "Points",
    "Range",
    "SearchedValue",
    "HOLD_SLACK",
    "grid_points",
    "holds",
    "plain",
    "validate_space",
]

SCALINGS = ("linear", "log")
SHAPES = "{min, max, scaling} or {feasible_points}"
DIMENSION_HINT = f"expected {SHAPES}"
_Ladder = integer(1, optional=True)


class Range(StrictModel):
    """``{min, max, scaling}``: min < max, and min > 0 on a log scale."""

    not_a_mapping: ClassVar[str] = DIMENSION_HINT
    allowed_keys: ClassVar[str] = "min, max, scaling, from_trials, num (or feasible_points in place of min, max, scaling)"
    min: FiniteNumber
    max: FiniteNumber
    scaling: one_of(SCALINGS)  # type: ignore[valid-type]  # pydantic type built by a call
    from_trials: _Ladder = None  # type: ignore[valid-type]  # pydantic type built by a call
    num: _Ladder = None  # type: ignore[valid-type]  # pydantic type built by a call

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.min < self.max:
            raise ValueError(f"min ({self.min!r}) must be below max ({self.max!r})")
        if self.scaling == "log" and self.min <= 0:
            raise ValueError(f"a log range needs min > 0, got min={self.min!r}")
        return self


def _point_list(item: Any) -> Any:  # noqa: ANN401 - a validator of list items
    def check(value: object) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise ValueError(f"expected a non-empty list, got {value!r}")
        for i, point in enumerate(value):
            try:
                item(point)
            except ValueError as err:
                raise FieldError((i,), str(err)) from None
        return value

    return PlainValidator(check)


class Points(StrictModel):
    """``{feasible_points: [...]}``: any values (a space for :func:`tuning.plan.quasirandom.sample`)."""

    not_a_mapping: ClassVar[str] = DIMENSION_HINT
    allowed_keys: ClassVar[str] = "feasible_points, from_trials, num (or min, max, scaling in place of feasible_points)"
    feasible_points: Annotated[list[Any], _point_list(lambda p: p)]
    from_trials: _Ladder = None  # type: ignore[valid-type]  # pydantic type built by a call
    num: _Ladder = None  # type: ignore[valid-type]  # pydantic type built by a call

    @model_validator(mode="after")
    def _no_num(self) -> Points:
        if self.num is not None:
            raise ValueError("give either num with min/max/scaling or feasible_points, not both")
        return self


def _finite(point: object) -> None:
    if isinstance(point, bool) or not isinstance(point, (int, float)) or not math.isfinite(point):
        raise ValueError(f"{point!r} is not a finite number")


class NumericPoints(Points):
    """Points of a protocol: finite numbers."""

    feasible_points: Annotated[list[float], _point_list(_finite)]


def _kind(value: object) -> str:
    if isinstance(value, Points) or (isinstance(value, dict) and "feasible_points" in value):
        return "<points>"
    return "<range>" if isinstance(value, (dict, Range)) else "<fixed>"


def _fixed(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number (fixed) or {SHAPES}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


Dimension = Annotated[
    Annotated[Range, Tag("<range>")] | Annotated[Points, Tag("<points>")],
    Discriminator(lambda v: "<points>" if _kind(v) == "<points>" else "<range>"),
]
"""A searched dimension of any space."""
SearchedValue = Annotated[
    Annotated[float, PlainValidator(_fixed), Tag("<fixed>")]
    | Annotated[Range, Tag("<range>")]
    | Annotated[NumericPoints, Tag("<points>")],
    Discriminator(_kind),
]
"""A protocol's value of one coordinate: a number (fixed), a range or points (searched)."""


def grid_points(dim: Range) -> list[float]:
    """``dim.num`` points of a range, evenly spaced in its scaling, ends included:
    ``exp(log a + i (log b - log a) / (K - 1))`` (log) or ``a + i (b - a) / (K - 1)`` (linear),
    i = 0..K-1, the ends exactly ``a`` and ``b``; one point is ``a``."""
    low, high, num = float(dim.min), float(dim.max), int(dim.num or 1)
    if num == 1:
        return [low]
    if dim.scaling == "log":
        step = (math.log(high) - math.log(low)) / (num - 1)
        points = [math.exp(math.log(low) + i * step) for i in range(num)]
    else:
        points = [low + i * (high - low) / (num - 1) for i in range(num)]
    points[0], points[-1] = low, high
    return points


def plain(dim: Range | Points) -> dict[str, Any]:
    """The dimension as JSON-ready data without its planning keys (what a plan samples)."""
    if isinstance(dim, Points):
        return {"feasible_points": list(dim.feasible_points)}
    return {"min": dim.min, "max": dim.max, "scaling": dim.scaling}


HOLD_SLACK = 1e-9
"""Relative slack of :func:`holds` (a value computed as 1 - (1 - x) rounds)."""


def holds(dim: Mapping[str, Any], value: float) -> bool:
    """Whether a dimension as data holds ``value``: a range ``{min: a, max: b}`` when
    ``a (1 - s) <= value <= b (1 + s)`` on a log scale (never ``value <= 0``) and
    ``a - s m <= value <= b + s m`` on a linear one (m = max(|a|, |b|)); points when ``value``
    equals one of them to relative ``s`` (absolute 1e-12); s = :data:`HOLD_SLACK`. A NaN or
    infinite value is never held."""
    if not math.isfinite(value):
        return False
    if "feasible_points" in dim:
        return any(math.isclose(value, float(p), rel_tol=HOLD_SLACK, abs_tol=1e-12) for p in dim["feasible_points"])
    low, high = float(dim["min"]), float(dim["max"])
    if dim.get("scaling") == "log":
        return value > 0 and low * (1 - HOLD_SLACK) <= value <= high * (1 + HOLD_SLACK)
    slack = HOLD_SLACK * max(abs(low), abs(high))
    return low - slack <= value <= high + slack


_SPACE = TypeAdapter(dict[str, Dimension])


def validate_space(space: object, where: str = "space") -> dict[str, Range | Points]:
    """The space's dimensions as models; InputError (a ValueError) ``WHERE.NAME: problem``."""
    if isinstance(space, Mapping) and space and all(isinstance(d, (Range, Points)) for d in space.values()):
        return dict(space)
    with reading(None, prefix=where.split(".")):
        if not isinstance(space, dict) or not space:
            raise FieldError((), "expected a non-empty mapping of hyperparameter -> range")
        return _SPACE.validate_python(space)
