"""The default search space an optimizer registers (e.g. from a plugin), adapted to a protocol
that does not list the optimizer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

import optimizers
from optcompare.coordinates import RELATIVE_LR
from optcompare.errors import InputError
from optcompare.validation import reading
from tuning.spec.search import Entries, SearchSpec, bind_search

if TYPE_CHECKING:
    from tuning.spec.protocol import Protocol

__all__ = ["GRID_POINTS_LR", "GRID_POINTS_OTHER", "LR_KEYS", "default_search"]

LR_KEYS = ("learning_rate", RELATIVE_LR)
GRID_POINTS_LR = 10
"""Grid points of a default space's learning-rate range under a grid protocol that has no
learning-rate grid of its own (otherwise the protocol's learning-rate grid size is used)."""
GRID_POINTS_OTHER = 3
"""Grid points of a default space's other ranges under a grid protocol (both ends and the middle
in its scaling): few, because every searched coordinate multiplies the grid's size."""

_ENTRIES = TypeAdapter(Entries)


def _protocol_lr_grid_size(protocol: Protocol) -> int | None:
    """Points of the learning-rate grid of the protocol's first entry that has one."""
    for opt in protocol.raw.get("optimizers", {}):
        search = protocol.searches.get(opt)
        for key in LR_KEYS:
            if search is not None and key in search.space and "feasible_points" in search.space[key]:
                return len(search.space[key]["feasible_points"])
    return None


def _adapted(protocol: Protocol, optimizer: str, space: dict[str, Any]) -> dict[str, Any]:
    """The default space as a protocol entry: other schedules' parameters dropped, the
    optimizer's schedule parameters (its schedule in the protocol,
    :meth:`~tuning.spec.protocol.Protocol.schedule_for`) taken from the protocol's first entry
    that sets them, and under a grid
    every plain range given ``num`` grid points."""
    other = {p for spec in optimizers.SCHEDULES.values() for p in spec.all_params}
    mine = optimizers.SCHEDULES[protocol.schedule_for(optimizer)].all_params
    coords: dict[str, Any] = {k: v for k, v in space.items() if k not in other or k in mine}
    entries = protocol.raw.get("optimizers", {})
    for param in mine:
        if param not in coords:
            given = [e[param] for e in entries.values() if isinstance(e, dict) and param in e]
            if given:
                coords[param] = given[0]
    if protocol.search == "grid":
        lr_points = _protocol_lr_grid_size(protocol) or GRID_POINTS_LR
        for key, value in list(coords.items()):
            if isinstance(value, dict) and "feasible_points" not in value and "num" not in value:
                coords[key] = {**value, "num": lr_points if key in LR_KEYS else GRID_POINTS_OTHER}
    return coords


def default_search(protocol: Protocol, optimizer: str) -> SearchSpec | None:
    """The optimizer's registered default search space adapted to ``protocol``, if it has one.

    - Schedule parameters of other schedules are dropped.
    - Parameters the protocol's schedule needs and the default space lacks are taken from the
      protocol's first optimizer entry that sets them (as written there: fixed, range or grid).
    - Under a grid protocol, a plain ``{min, max, scaling}`` range becomes ``num`` grid points
      evenly spaced in its scaling: for the learning rate (``learning_rate`` or
      ``learning_rate_over_epsilon``) as many as the protocol's own learning-rate grid has
      (``GRID_POINTS_LR`` if it has none), for any other coordinate ``GRID_POINTS_OTHER``.

    If the result is still not a valid search under the protocol, the InputError says to add
    the optimizer to the protocol file."""
    space = optimizers.get_spec(optimizer).search_space
    if space is None:
        return None
    source = f"default search space of {optimizer!r}"
    try:
        with reading(source, prefix=("optimizers",)):
            entry = _ENTRIES.validate_python({optimizer: _adapted(protocol, optimizer, space)})[optimizer]
        with reading(source):
            return bind_search(optimizer, entry, protocol.schedule_for(optimizer), protocol.search)
    except InputError as err:
        raise InputError(
            f"{protocol.source}: protocol {protocol.name!r} has no entry for optimizer {optimizer!r} "
            f"and its registered default search space does not fit this protocol ({err}); add an "
            f"entry for {optimizer!r} under optimizers: in {protocol.source}"
        ) from None
