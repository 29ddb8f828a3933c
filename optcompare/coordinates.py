"""Tuned coordinates: the names a protocol searches in, and how each maps to a hyperparameter.

A protocol writes every hyperparameter in a *tuned coordinate* ``x``:

=============================  ==================  =====================  ==============
coordinate                     sets                map                    valid ``x``
=============================  ==================  =====================  ==============
``one_minus_momentum``         ``momentum``        momentum = 1 - x       (0, 1]
``one_minus_beta1``            ``beta1``           beta1 = 1 - x          (0, 1]
``one_minus_beta2``            ``beta2``           beta2 = 1 - x          (0, 1]
``one_minus_rho``              ``rho``             rho = 1 - x            [0, 1]
``one_minus_shampoo_beta``     ``shampoo_beta``    shampoo_beta = 1 - x   (0, 1]
``learning_rate_over_epsilon`` ``learning_rate``   learning_rate = x * ε  (0, inf)
``effective_learning_rate``    ``learning_rate``   learning_rate =        (0, inf)
                                                   x * (1 - momentum)
any other name                 itself              identity               any
=============================  ==================  =====================  ==============

Searching ``1 - beta`` on a log scale spends trials evenly on 0.9, 0.99, 0.999 (the interesting
region of a momentum near 1); ``learning_rate_over_epsilon`` is the relative space of Choi et al.
(2019) for Adam-like optimizers, where at large ε the update is ``learning_rate / ε`` times
the gradient moment (see docs/method.md). ``effective_learning_rate`` is heavy-ball
momentum's step size in the long run, eta / (1 - momentum) (a constant gradient g moves the
weights by eta g / (1 - momentum) per step once the buffer has filled): the decoupled refinement
(:mod:`tuning.plan.refine`) searches it next to ``one_minus_momentum``, so that the best trials'
diagonal eta ~ c (1 - momentum) becomes an axis. The valid ranges follow from the target's own range
(momentum and the betas lie in [0, 1), rho in [0, 1]): a ``1 - beta`` cannot exceed 1.

The table is used by protocol validation, planning (:func:`resolve`), and the analysis
(:func:`to_coordinates`, the inverse). Importable without torch or ray.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from optcompare.intervals import Interval

__all__ = [
    "COORDINATES",
    "EFFECTIVE_LR",
    "ONE_MINUS",
    "RELATIVE_LR",
    "Coordinate",
    "coordinate",
    "resolve",
    "to_coordinates",
]


HParams = Mapping[str, float]


@dataclass(frozen=True)
class Coordinate:
    """One tuned coordinate: its name in a protocol, the hyperparameter it sets, and the maps.

    ``forward(x, hparams)`` gives the target's value; ``inverse(value, hparams)`` the coordinate
    of a target value. ``hparams`` holds the other resolved hyperparameters: a coordinate that
    ``reads`` some (``learning_rate_over_epsilon`` reads ``epsilon``) is mapped after them."""

    name: str
    target: str
    forward: Callable[[float, HParams], float]
    inverse: Callable[[float, HParams], float]
    bounds: Interval = Interval()
    reads: tuple[str, ...] = ()
    formula: str = ""
    read_bounds: Interval = Interval(0.0, math.inf, low_closed=False, high_closed=False)
    """Where the hyperparameters it ``reads`` must lie for the map to be defined (epsilon > 0;
    momentum in [0, 1))."""


def _identity(name: str) -> Coordinate:
    return Coordinate(name, name, lambda x, _: float(x), lambda v, _: v, formula=f"{name} = x")


def _one_minus(target: str, bounds: Interval) -> Coordinate:
    return Coordinate(
        f"one_minus_{target}", target, lambda x, _: 1.0 - float(x), lambda v, _: 1.0 - v, bounds,
        formula=f"{target} = 1 - one_minus_{target}",
    )


RELATIVE_LR = "learning_rate_over_epsilon"
EFFECTIVE_LR = "effective_learning_rate"
COORDINATES: dict[str, Coordinate] = {
    c.name: c
    for c in (
        _one_minus("momentum", Interval(0.0, 1.0, low_closed=False)),
        _one_minus("beta1", Interval(0.0, 1.0, low_closed=False)),
        _one_minus("beta2", Interval(0.0, 1.0, low_closed=False)),
        _one_minus("rho", Interval(0.0, 1.0)),
        _one_minus("shampoo_beta", Interval(0.0, 1.0, low_closed=False)),
        Coordinate(
            RELATIVE_LR, "learning_rate",
            lambda x, hp: float(x) * hp["epsilon"], lambda v, hp: v / hp["epsilon"],
            Interval(0.0, math.inf, low_closed=False, high_closed=False), reads=("epsilon",),
            formula=f"learning_rate = {RELATIVE_LR} * epsilon",
        ),
        Coordinate(
            EFFECTIVE_LR, "learning_rate",
            lambda x, hp: float(x) * (1.0 - hp["momentum"]), lambda v, hp: v / (1.0 - hp["momentum"]),
            Interval(0.0, math.inf, low_closed=False, high_closed=False), reads=("momentum",),
            formula=f"learning_rate = {EFFECTIVE_LR} * (1 - momentum)",
            read_bounds=Interval(0.0, 1.0, high_closed=False),
        ),
    )
}
"""Every coordinate that is not its hyperparameter's own name."""
ONE_MINUS: dict[str, str] = {c.name: c.target for c in COORDINATES.values() if c.name.startswith("one_minus_")}
"""``one_minus_X`` -> ``X``."""


def coordinate(name: str) -> Coordinate:
    """The coordinate called ``name``: from the table, else the identity on ``name``."""
    return COORDINATES.get(name) or _identity(name)


def resolve(
    coords: Mapping[str, float], defaults: HParams, schedule_params: Collection[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Map tuned coordinates to (optimizer hyperparameters, schedule parameters).

    Schedule parameters pass through as floats. Coordinates that read no other hyperparameter
    are mapped first; ``defaults`` fill the hyperparameters not set; then the coordinates that
    read others (``learning_rate = x * epsilon``) are mapped against the filled values."""
    hparams: dict[str, float] = {}
    schedule: dict[str, float] = {}
    later: list[tuple[Coordinate, float]] = []
    for key, value in coords.items():
        if key in schedule_params:
            schedule[key] = float(value)
            continue
        coord = coordinate(key)
        if coord.reads:
            later.append((coord, value))
        else:
            hparams[coord.target] = coord.forward(value, hparams)
    hparams = {**defaults, **hparams}
    for coord, value in later:
        hparams[coord.target] = coord.forward(value, hparams)
    return hparams, schedule


def to_coordinates(
    names: Iterable[str], hparams: HParams, schedule: HParams | None = None, schedule_params: Collection[str] = ()
) -> dict[str, float]:
    """The inverse of :func:`resolve`: the value of each coordinate in ``names`` that resolves to
    ``hparams`` (and, for schedule parameters, to ``schedule``; skipped when it is None)."""
    coords: dict[str, float] = {}
    for name in names:
        if name in schedule_params:
            if schedule is not None:
                coords[name] = schedule[name]
            continue
        coord = coordinate(name)
        coords[name] = coord.inverse(hparams[coord.target], hparams)
    return coords
