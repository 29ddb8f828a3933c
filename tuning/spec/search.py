"""One optimizer's search under a protocol (:class:`SearchSpec`), and the rules that bind a
protocol entry to the optimizer and schedule it names (:func:`bind_search`).

The entry's values were validated as models (:mod:`optcompare.space`); what is checked here needs
the optimizer registry or the protocol's schedule and search kind:

- each coordinate is a hyperparameter of the optimizer, a coordinate of the table in
  :mod:`optcompare.coordinates` whose target it has, or a parameter of the schedule; no two
  coordinates set the same hyperparameter; the schedule's required parameters are all given;
- ``from_trials`` only under a quasi-random search, ``num`` only under a grid, and a grid's
  ranges have ``num`` (an adaptive search, :mod:`tuning.planners.adaptive`, takes neither: its sampler
  asks every point from the whole space);
- every fixed value and every extreme of every range maps to valid optimizer and schedule
  values (:func:`corners`).

Errors are :class:`~optcompare.validation.FieldError` with paths from the protocol's root.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainValidator

import optimizers
from optcompare.coordinates import COORDINATES, coordinate, resolve
from optcompare.errors import InputError
from optcompare.schema import SEARCH_KINDS, is_adaptive
from optcompare.space import Points, Range, SearchedValue, grid_points, plain
from optcompare.validation import FieldError, StrictModel, one_of

__all__ = [
    "Entries",
    "Entry",
    "SearchSpec",
    "bind_search",
    "check_search",
    "corners",
]

SearchKind = one_of(SEARCH_KINDS)
"""A protocol's ``search:``: planned (quasirandom, grid) or an Optuna sampler
(:data:`optcompare.schema.ADAPTIVE_SEARCHES`); the names live in :mod:`optcompare.schema`."""
Value = float | Range | Points


def _mapping(message: str, *, non_empty: bool) -> BeforeValidator:
    def check(value: object) -> object:
        if not isinstance(value, dict) or (non_empty and not value):
            raise ValueError(f"{message}, got {value!r}")
        return value

    return BeforeValidator(check)


def _optimizer_name(name: object) -> str:
    if name not in optimizers.names():
        raise ValueError(f"unknown optimizer; valid choices: {', '.join(optimizers.names())}")
    return name


Entry = Annotated[dict[str, SearchedValue], _mapping("expected a mapping hyperparameter -> value or range", non_empty=False)]
"""One optimizer's entry: coordinate -> number, range or points."""
Entries = Annotated[
    dict[Annotated[str, PlainValidator(_optimizer_name)], Entry],
    _mapping("expected a mapping optimizer -> hyperparameters", non_empty=True),
]


class SearchSpec(StrictModel):
    """One optimizer's part of a protocol, in tuned coordinates."""

    optimizer: str
    fixed: dict[str, float]
    space: dict[str, dict[str, Any]]
    """Searched coordinates as data: ``{min, max, scaling}`` or ``{feasible_points}`` (a grid:
    points only); :func:`tuning.plan.quasirandom.sample` takes it as it is."""
    schedule: str
    schedule_params: tuple[str, ...]
    search: SearchKind = "quasirandom"  # type: ignore[valid-type]  # pydantic type built by a call
    ladder: dict[str, int] = Field(default_factory=dict)
    """Coordinate -> smallest number of trials at which it is searched (``from_trials``)."""

    def for_budget(self, trials: int) -> SearchSpec:
        """This search with the ladder applied: coordinates whose ``from_trials`` exceeds
        ``trials`` are dropped (they keep the optimizer's defaults)."""
        space = {k: v for k, v in self.space.items() if self.ladder.get(k, 0) <= trials}
        return self.model_copy(update={"space": space}) if len(space) != len(self.space) else self

    def grid(self) -> list[dict[str, Any]]:
        """All grid points, coordinates in sorted name order, last coordinate fastest."""
        names = sorted(self.space)
        values = [self.space[n]["feasible_points"] for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]

    def resolve(self, point: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
        """Map one search point (tuned coordinates) to (optimizer hparams, schedule params);
        the optimizer's defaults fill in hyperparameters the protocol does not mention."""
        defaults = optimizers.get_spec(self.optimizer).defaults
        return resolve({**self.fixed, **point}, defaults, self.schedule_params)


def _allowed(optimizer: str, schedule_params: tuple[str, ...]) -> list[str]:
    spec = optimizers.get_spec(optimizer)
    table = [c.name for c in COORDINATES.values() if c.target in spec.defaults and set(c.reads) <= set(spec.defaults)]
    return sorted({*spec.hparam_names, *table, *schedule_params})


def _check_names(where: tuple[str, ...], optimizer: str, coords: Mapping[str, Value], params: tuple[str, ...]) -> None:
    """Every coordinate is known to the optimizer or schedule; no hyperparameter is set twice."""
    defaults = optimizers.get_spec(optimizer).defaults
    setters: dict[str, str] = {}
    for key in coords:
        coord = coordinate(key)
        missing = [r for r in coord.reads if r not in defaults]
        if missing:
            raise FieldError((*where, key), f"{optimizer} has no {missing[0]}, so {key} is undefined")
        if coord.target not in defaults and key not in params:
            allowed = ", ".join(_allowed(optimizer, params))
            raise FieldError((*where, key), f"not a hyperparameter of {optimizer}; allowed: {allowed}")
        if coord.target in setters:
            raise FieldError(where, f"{key!r} and {setters[coord.target]!r} both set {coord.target}; keep one")
        setters[coord.target] = key


def _check_search_kind(where: tuple[str, ...], key: str, value: Range | Points, search: str) -> None:
    """``from_trials`` under quasirandom only; ``num`` under grid only; a grid's ranges have ``num``."""
    path = (*where, key)
    if value.from_trials is not None and is_adaptive(search):
        raise FieldError(
            (*path, "from_trials"),
            f"only a quasirandom search takes from_trials (a budget ladder); the {search!r} sampler "
            "asks every point from the whole space. Remove from_trials, or use search: quasirandom",
        )
    if value.from_trials is not None and search == "grid":
        raise FieldError(
            (*path, "from_trials"),
            "only a quasirandom search takes from_trials (a budget ladder); a grid search plans "
            "every grid point whatever trials_per_search says. Remove from_trials, or use search: "
            "quasirandom",
        )
    if isinstance(value, Range) and value.num is not None and search != "grid":
        raise FieldError((*path, "num"), f"only a grid search takes num; this protocol's search is {search!r}")
    if isinstance(value, Range) and value.num is None and search == "grid":
        raise FieldError(
            path, f"a grid search needs feasible_points or a range with num (grid points), got {plain(value)!r}"
        )


def corners(space: Mapping[str, Mapping[str, Any]]) -> list[dict[str, float]]:
    """Points where every resolved hyperparameter takes its extreme values.

    Each map of :mod:`optcompare.coordinates` is monotone in each coordinate and depends on at most
    two of them (``learning_rate_over_epsilon`` and ``epsilon``), so it suffices to take, for
    every pair of coordinates, the four combinations of their ends, with the others all at their
    low or all at their high end."""
    ends = {}
    for key, dim in space.items():
        values = dim["feasible_points"] if "feasible_points" in dim else [dim["min"], dim["max"]]
        ends[key] = (min(values), max(values))
    keys = list(ends)
    corners: list[dict[str, float]] = []
    for side in (0, 1):
        base = {k: ends[k][side] for k in keys}
        corners.append(base)
        for i, a in enumerate(keys):
            for b in keys[i:]:
                for ea in ends[a]:
                    for eb in ends[b]:
                        corners.append({**base, a: ea, b: eb} if a != b else {**base, a: ea})
    return corners


def _check_reads(where: tuple[str, ...], search: SearchSpec, corner: Mapping[str, float]) -> None:
    """A coordinate that reads other hyperparameters (``learning_rate = x * epsilon``) blames
    itself or what it reads (what the user wrote), not the hyperparameter derived from them."""
    coords = {**search.fixed, **corner}
    for key, value in coords.items():
        coord = coordinate(key)
        if not coord.reads:
            continue
        if float(value) not in coord.bounds:
            raise FieldError(
                (*where, key), f"expected a finite number {coord.bounds.phrase()} ({coord.formula}), got {float(value)!r}"
            )
        hparams, _ = search.resolve(corner)
        for name in coord.reads:
            if not (math.isfinite(hparams[name]) and hparams[name] in coord.read_bounds):
                origin = "" if name in coords else " (the optimizer's default)"
                raise FieldError(
                    (*where, name),
                    f"{key} needs {name} {coord.read_bounds.phrase()} ({coord.formula}), got {name}={hparams[name]!r}{origin}",
                )


def _check_values(where: tuple[str, ...], search: SearchSpec) -> None:
    """Fixed values and the extremes of every range map to valid optimizer and schedule values."""
    opt = search.optimizer
    for corner in corners(search.space) if search.space else [{}]:
        tuned = {k: v for k, v in corner.items() if k in COORDINATES}
        _check_reads(where, search, corner)
        try:
            hparams, schedule = search.resolve(corner)
            optimizers.validate_hparams(opt, hparams)
            optimizers.make_schedule(search.schedule, 1.0, 1, **schedule)
        except ValueError as err:
            message = str(err).removeprefix(f"{opt}: ")  # the path names the optimizer
            derived = [c for k in {**search.fixed, **corner} if (c := coordinate(k)).name in COORDINATES]
            for coord in derived:
                if message.startswith(f"{coord.target}="):
                    message += f" ({coord.formula})"
            outside = [f"{k} must lie in {coordinate(k).bounds}" for k, v in tuned.items() if v not in coordinate(k).bounds]
            hint = f" (reached at {tuned}{'; ' if outside else ''}{'; '.join(outside)})" if tuned else ""
            raise FieldError(where, f"{message}{hint}") from None


def check_search(search: SearchSpec) -> None:
    """FieldError (at ``optimizers.OPTIMIZER``) unless every fixed value and every extreme of
    ``search``'s space maps to valid optimizer and schedule values (e.g. a refined space)."""
    _check_values(("optimizers", search.optimizer), search)


def bind_search(optimizer: str, coords: Mapping[str, Value], schedule: str, search: str = "quasirandom") -> SearchSpec:
    """The search of one validated protocol entry (coordinate -> number, Range or Points) for
    ``optimizer`` under ``schedule`` and ``search``; FieldError at ``optimizers.OPTIMIZER...``."""
    where = ("optimizers", optimizer)
    try:
        optimizers.check_schedule(optimizer, schedule)
    except InputError as err:
        raise FieldError(where, str(err)) from None
    params = optimizers.SCHEDULES[schedule].all_params
    _check_names(where, optimizer, coords, params)
    missing = [p for p in optimizers.SCHEDULES[schedule].hparams if p not in coords]
    if missing:
        raise FieldError(where, f"schedule {schedule!r} needs {', '.join(missing)}")
    space: dict[str, dict[str, Any]] = {}
    ladder: dict[str, int] = {}
    for key, value in coords.items():
        if not isinstance(value, (Range, Points)):
            continue
        _check_search_kind(where, key, value, search)
        if isinstance(value, Range) and value.num is not None:  # a grid's range
            space[key] = {"feasible_points": grid_points(value)}
        else:
            space[key] = plain(value)
        if value.from_trials is not None:
            ladder[key] = value.from_trials
    spec = SearchSpec(
        optimizer=optimizer,
        fixed={k: float(v) for k, v in coords.items() if not isinstance(v, (Range, Points))},
        space=space,
        schedule=schedule,
        schedule_params=params,
        search=search,
        ladder=ladder,
    )
    _check_values(where, spec)
    return spec
