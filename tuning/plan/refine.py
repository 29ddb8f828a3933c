"""Refining a search space from a finished search: a deterministic rule on its rows.

Choi et al. (2019) did not rank optimizers from their initial spaces: per workload and
optimizer they narrowed or moved each range until the best trials were well inside it, then ran
the final search there. This module is that step as a rule, a pure function of one search's
trials rows (docs/method.md, "Refining a search space").

Best trials. Of the search's *completed* trials with a finite selection metric (the protocol's
``select``, lower is better; diverged and failed trials are ignored), sorted by (metric,
``trial_index``, ``trial_id``), the best ``n`` are kept::

    n = min(N, max(2, ceil(q * N)))     (best fraction q in (0, 1], default 0.25), or
    n = min(N, k)                       (best count k >= 2)

with N the number of such trials; N < 2 cannot be refined (:class:`TooFewTrials`).

Ranges. Per searched coordinate with range [a, b] and its best trials' values spanning
[lo, hi], with margin m > 0 (default 0.5) and edge e (default 0.05, as the search-space
diagnostics, :func:`analysis.diagnostics.position_in_range`)::

    log scaling:     lo' = lo * 10^(-m),      hi' = hi * 10^(+m)        (m in decades)
    linear scaling:  lo' = lo - m (b - a),    hi' = hi + m (b - a)      (m in initial widths)

    new low  = lo'              if lo' >= a                  (shrunk: inside the initial range)
             = lo'              if lo' <  a and pos(lo) < e  (extended past a: best trials at the edge)
             = a                otherwise                    (kept: the initial bound)
    new high = the same on the upper side, with pos(hi) > 1 - e

where pos is the position in the initial range (0 at a, 1 at b, in the scaling's units). So the
refined range stays inside the initial one except on a side where the best trials sit in its
outer e of the width; there it moves past the bound by the margin. A bound is never moved past
a validity limit of the coordinate (:func:`validity_limits`: a ``one_minus_*`` lies in (0, 1],
a schedule parameter in its schedule's interval, an optimizer's hyperparameter in its range):
at a closed limit L the bound is L; at an open one it is the midpoint between L and the best
value (geometric on a log scale), or the initial bound if that is further out ("clipped").

Points. A ``feasible_points`` coordinate keeps, in sorted order, the points from the smallest to
the largest that a best trial used, plus one neighbouring point on each side where there is one
(the margin of a list of points). Fixed values stay fixed; a coordinate without a value in any
best trial keeps its space. Importable without torch (the limits of optimizer hyperparameters
import :mod:`optimizers` when asked for).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

import optimizers
from optcompare.coordinates import COORDINATES, EFFECTIVE_LR, coordinate
from optcompare.errors import InputError, ParameterError
from optcompare.intervals import Interval
from optcompare.schema import COMPLETED, METRICS, TUNED_PREFIX, SearchKey
from optcompare.space_range import SpaceRange, position_in_range
from tuning.spec.protocol import parse_protocol
from tuning.spec.refine_rule import (
    RefineRule,
)

if TYPE_CHECKING:
    from optcompare.searches import Search
    from tuning.spec.protocol import Protocol
    from tuning.spec.search import SearchSpec

__all__ = [
    "BOUND_NOTES",
    "RefinedCoordinate",
    "RefinedProtocol",
    "RefinedSearch",
    "TooFewTrials",
    "best_trials",
    "decouple",
    "refine_protocol",
    "refine_search",
    "show_dimension",
    "validity_limits",
    "write_refined_protocol",
]


BOUND_NOTES: dict[str, str] = {
    "shrunk": "moved inside the initial range: the best trials' span plus the margin",
    "kept": "the initial bound (the margin reaches past it, the best trials are not at that edge)",
    "extended": "moved past the initial bound by the margin (best trials in the outer edge)",
    "clipped": "moved past the initial bound, stopped at the coordinate's validity limit",
    "points": "feasible points the best trials used, plus one neighbour on each side",
    "unchanged": "no best trial has a value for this coordinate: the initial space is kept",
}
"""What happened to a bound (or a list of points), by the name a result records."""
FILE_ORDER = ("name", "description", "schedule", "schedules", "search", "select", "rerun_best", "optimizers")
"""The order of a written protocol's keys."""


class TooFewTrials(InputError):
    """A search with fewer than two completed trials: there is nothing to refine from."""

    def __init__(self, key: SearchKey, completed: int) -> None:
        self.key = key
        super().__init__(
            f"search {key.prefix()} has {completed} completed trial(s) with a selection metric; "
            "refining needs at least 2: run more trials (or retry the failed ones) first"
        )






@dataclass(frozen=True)
class RefinedCoordinate:
    """One searched coordinate: its initial and refined space (``{min, max, scaling}`` or
    ``{feasible_points}``) and what happened to each bound (:data:`BOUND_NOTES` names)."""

    name: str
    old: dict[str, Any]
    new: dict[str, Any]
    low: str
    high: str
    limit: Interval = Interval()

    def notes(self) -> str:
        """The bounds' notes in words, e.g. ``lower extended; upper clipped at 1``."""
        if self.low == self.high and self.low in ("points", "unchanged"):
            return self.low
        words = []
        sides = (("lower", self.low, self.limit.low), ("upper", self.high, self.limit.high))
        for side, note, end in sides:
            words.append(f"{side} {note}" + (f" at {end:g}" if note == "clipped" else ""))
        return "; ".join(words)


@dataclass(frozen=True)
class RefinedSearch:
    """The refinement of one search: the best trials used and each coordinate's result."""

    key: SearchKey
    select: str
    rule: RefineRule
    completed: int
    best_trial_ids: tuple[str, ...]
    coordinates: tuple[RefinedCoordinate, ...]
    replaced: tuple[tuple[str, str], ...] = ()
    """(coordinate, the coordinate refined in its place), e.g. ``(("learning_rate",
    "effective_learning_rate"),)`` under a decoupled rule."""

    @property
    def space(self) -> dict[str, dict[str, Any]]:
        """The refined space, as :attr:`tuning.spec.search.SearchSpec.space` holds one."""
        return {c.name: c.new for c in self.coordinates}


def best_trials(search: Search, select: str, rule: RefineRule) -> tuple[np.ndarray, int]:
    """(row indices of the best trials, best first; number of completed trials) of ``search``
    by metric ``select`` (module doc); :class:`TooFewTrials` below two."""
    values = search.column(METRICS[select].column)
    index = search.column("trial_index")
    ok = np.flatnonzero((search.status == COMPLETED) & np.isfinite(values))
    if len(ok) < 2:
        raise TooFewTrials(search.key, len(ok))
    order = sorted(ok, key=lambda i: (values[i], index[i], str(search.trial_id[i])))
    return np.asarray(order[: rule.n_best(len(ok))], dtype=int), len(ok)


def validity_limits(spec: SearchSpec) -> dict[str, Interval]:
    """Valid values of each searched coordinate of ``spec``: a schedule parameter's interval, a
    coordinate's from :data:`optcompare.coordinates.COORDINATES`, else the optimizer's range for
    the hyperparameter (unbounded when it registers none)."""

    schedule = optimizers.SCHEDULES[spec.schedule]
    intervals = {**schedule.hparams, **{k: (lo, hi) for k, (lo, hi, _) in schedule.optional.items()}}
    opt = optimizers.get_spec(spec.optimizer)
    limits = {}
    for name in spec.space:
        if name in intervals:
            low, high = intervals[name]
            limits[name] = Interval(low, high, high_closed=name not in optimizers.schedules.OPEN_ABOVE)
        elif name in COORDINATES:
            limits[name] = COORDINATES[name].bounds
        else:
            limits[name] = opt.range_of(name) or Interval()
    return limits


def _side(margin_end: float, initial: float, at_edge: bool, outward: float) -> tuple[float, str]:
    """One bound before the validity limit: ``outward`` is -1 (lower) or +1 (upper)."""
    if (margin_end - initial) * outward <= 0:
        return margin_end, "shrunk"
    if at_edge:
        return margin_end, "extended"
    return initial, "kept"


def _clip(value: float, best: float, initial: float, limit: float, closed: bool, log: bool) -> float:
    """``value`` past ``limit`` (or at an open one) brought back: the limit when closed, else the
    midpoint of limit and ``best`` (geometric on a log scale) or ``initial``, whichever is
    further out."""
    if closed:
        return limit
    middle = math.sqrt(limit * best) if log and limit > 0 else (limit + best) / 2
    return min(middle, initial) if limit < best else max(middle, initial)


def _refine_range(
    name: str, dim: Mapping[str, Any], values: np.ndarray, rule: RefineRule, limit: Interval
) -> RefinedCoordinate:
    low0, high0, scaling = float(dim["min"]), float(dim["max"]), str(dim["scaling"])
    lo, hi = float(values.min()), float(values.max())
    log = scaling == "log"
    if log:
        ends = (lo * 10.0 ** -rule.margin, hi * 10.0**rule.margin)
    else:
        width = rule.margin * (high0 - low0)
        ends = (lo - width, hi + width)
    pos_lo, pos_hi = position_in_range(np.array([lo, hi]), SpaceRange(low0, high0, scaling))
    new_low, low_note = _side(ends[0], low0, bool(pos_lo < rule.edge), -1.0)
    new_high, high_note = _side(ends[1], high0, bool(pos_hi > 1 - rule.edge), +1.0)
    if new_low < limit.low or (new_low == limit.low and not limit.low_closed):
        new_low, low_note = _clip(new_low, lo, low0, limit.low, limit.low_closed, log), "clipped"
    if new_high > limit.high or (new_high == limit.high and not limit.high_closed):
        new_high, high_note = _clip(new_high, hi, high0, limit.high, limit.high_closed, log), "clipped"
    new = {"min": float(new_low), "max": float(new_high), "scaling": scaling}
    return RefinedCoordinate(name, dict(dim), new, low_note, high_note, limit)


def _refine_points(name: str, dim: Mapping[str, Any], values: np.ndarray) -> RefinedCoordinate:
    points = sorted(set(float(p) for p in dim["feasible_points"]))
    used = np.abs(values[:, None] - np.asarray(points)).argmin(axis=1)
    first, last = max(0, int(used.min()) - 1), min(len(points) - 1, int(used.max()) + 1)
    new = {"feasible_points": points[first : last + 1]}
    return RefinedCoordinate(name, dict(dim), new, "points", "points")


def refine_search(
    search: Search,
    space: Mapping[str, Mapping[str, Any]],
    rule: RefineRule,
    *,
    select: str = "val_error",
    limits: Mapping[str, Interval] | None = None,
) -> RefinedSearch:
    """Refine ``space`` (coordinate -> ``{min, max, scaling}`` or ``{feasible_points}``, the
    coordinates of the ``tuned_<name>`` columns) from the rows of ``search`` by ``rule``
    (module doc). ``limits`` gives each coordinate's valid values (default: the coordinate
    table's, :func:`validity_limits` adds the optimizer's and the schedule's)."""
    replaced: tuple[tuple[str, str], ...] = ()
    if rule.decoupled:
        space, search, replaced = decouple(space, search)
    best, completed = best_trials(search, select, rule)
    coordinates = []
    for name in sorted(space):
        dim = space[name]
        values = search.column(f"{TUNED_PREFIX}{name}")[best]
        values = values[np.isfinite(values)]
        if not len(values):
            coordinates.append(RefinedCoordinate(name, dict(dim), dict(dim), "unchanged", "unchanged"))
        elif "feasible_points" in dim:
            coordinates.append(_refine_points(name, dim, values))
        else:
            limit = (limits or {}).get(name, coordinate(name).bounds)
            coordinates.append(_refine_range(name, dim, values, rule, limit))
    best_ids = tuple(str(search.trial_id[i]) for i in best)
    return RefinedSearch(search.key, select, rule, completed, best_ids, tuple(coordinates), replaced)


def decouple(
    space: Mapping[str, Mapping[str, Any]], search: Search
) -> tuple[dict[str, Mapping[str, Any]], Search, tuple[tuple[str, str], ...]]:
    """``space`` and ``search``'s rows with heavy-ball momentum's learning rate written as its
    effective rate, when both ``learning_rate`` and ``one_minus_momentum`` are log ranges:

        effective_learning_rate = learning_rate / one_minus_momentum      (each trial's value)
        its range = [a / d, b / c]   (learning_rate in [a, b], one_minus_momentum in [c, d]: the
                                      image of the initial box; log scaling)

    and ``learning_rate`` dropped from the space. The best trials of a momentum search often
    lie along eta ~ c (1 - momentum); on these axes that diagonal is one range, so the refined
    box holds it without the corners that none of them had (large eta with momentum near 1).
    Otherwise (a fixed momentum, a linear range, points) nothing changes."""
    lr, omm = space.get("learning_rate"), space.get("one_minus_momentum")
    if not (
        isinstance(lr, Mapping) and isinstance(omm, Mapping)
        and lr.get("scaling") == "log" and omm.get("scaling") == "log"
    ):
        return dict(space), search, ()
    dim = {"min": float(lr["min"]) / float(omm["max"]), "max": float(lr["max"]) / float(omm["min"]), "scaling": "log"}
    decoupled: dict[str, Mapping[str, Any]] = {k: dict(v) for k, v in space.items() if k != "learning_rate"}
    decoupled[EFFECTIVE_LR] = dim
    values = search.column(f"{TUNED_PREFIX}learning_rate") / search.column(f"{TUNED_PREFIX}one_minus_momentum")
    columns = {**search.columns, f"{TUNED_PREFIX}{EFFECTIVE_LR}": values}
    return decoupled, replace(search, columns=columns), (("learning_rate", EFFECTIVE_LR),)


@dataclass(frozen=True)
class RefinedProtocol:
    """A protocol refined from one experiment's searches on one workload: the new protocol as
    data (``raw``, what :func:`write_refined_protocol` writes) and each search's result."""

    name: str
    initial: str
    experiment: str
    workload: str
    rule: RefineRule
    select: str
    raw: dict[str, Any]
    searches: tuple[RefinedSearch, ...]


def _entry(
    raw_entry: Mapping[str, Any] | None, spec: SearchSpec, refined: RefinedSearch
) -> dict[str, Any]:
    """The protocol entry of one optimizer: its entry as written (else its fixed values), each
    searched coordinate replaced by the refined space (``from_trials`` kept)."""
    entry: dict[str, Any] = dict(raw_entry) if raw_entry is not None else {k: float(v) for k, v in spec.fixed.items()}
    for old, _ in refined.replaced:
        entry.pop(old, None)
    # A coordinate refined in place of the entry's own (a decoupled stage's
    # effective_learning_rate for the entry's learning_rate) replaces it: one setter per target.
    targets = {coordinate(name).target: name for name in refined.space}
    for key in list(entry):
        if targets.get(coordinate(key).target, key) != key:
            del entry[key]
    for name, dim in refined.space.items():
        ladder = {"from_trials": spec.ladder[name]} if name in spec.ladder else {}
        entry[name] = {**dim, **ladder}
    return entry


def refine_protocol(
    protocol: Protocol,
    searches: Mapping[str, Search],
    rule: RefineRule,
    *,
    experiment: str,
    workload: str,
    name: str | None = None,
) -> RefinedProtocol:
    """Refine every search of ``protocol`` (optimizer -> its rows on ``workload``; the protocol
    bound to those optimizers) into a new quasi-random protocol called ``name`` (default
    ``<protocol>-refined``). A grid protocol is refused: its points are the protocol."""
    if protocol.search != "quasirandom":
        raise ParameterError(
            "protocol",
            f"{{name}} {protocol.name!r} is a {protocol.search} search; only a quasirandom "
            "protocol can be refined (a grid's points are the protocol itself)",
        )
    name = name or f"{protocol.name}-refined"
    entries = protocol.raw.get("optimizers") or {}
    bound = protocol.bound(searches)
    results, optimizers = [], {}
    for opt, search in searches.items():
        spec = bound.searches[opt]
        limits = validity_limits(spec)
        refined = refine_search(search, spec.space, rule, select=protocol.select, limits=limits)
        results.append(refined)
        optimizers[opt] = _entry(entries.get(opt), spec, refined)
    for opt, entry in entries.items():
        optimizers.setdefault(opt, entry)  # not run in the experiment: as it was
    description = (
        f"{protocol.name} refined from experiment {experiment} (workload {workload}) by the rule "
        f"of docs/method.md, 'Refining a search space': {rule.phrase(protocol.select)}"
    )
    changed = {"name": name, "description": description, "search": "quasirandom", "optimizers": optimizers}
    raw = {k: changed.get(k, protocol.raw.get(k)) for k in FILE_ORDER if k in changed or k in protocol.raw}
    raw.update({k: v for k, v in protocol.raw.items() if k not in raw})
    return RefinedProtocol(
        name, protocol.name, experiment, workload, rule, protocol.select, raw, tuple(results)
    )


def _header(refined: RefinedProtocol) -> str:
    lines = [f"# {refined.raw['description']}", "# coordinate: initial -> refined (notes)"]
    for search in refined.searches:
        for c in search.coordinates:
            change = f"{show_dimension(c.old)} -> {show_dimension(c.new)} ({c.notes()})"
            lines.append(f"#   {search.key.optimizer}.{c.name}: {change}")
    return "\n".join(lines) + "\n"


def show_dimension(dim: Mapping[str, Any]) -> str:
    """A dimension in one short phrase: ``[1e-3, 1] log`` or ``{0.1, 0.5}``."""
    if "feasible_points" in dim:
        return "{" + ", ".join(f"{p:.4g}" for p in dim["feasible_points"]) + "}"
    return f"[{dim['min']:.4g}, {dim['max']:.4g}] {dim['scaling']}"


class _Dimension(dict):
    """A dimension written on one line: ``{min: 0.001, max: 1.0, scaling: log}``."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Dimension, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


def _flow_dimensions(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with every searched dimension of every optimizer entry as a :class:`_Dimension`."""
    entries = {
        opt: {k: _Dimension(v) if isinstance(v, Mapping) else v for k, v in entry.items()}
        for opt, entry in raw["optimizers"].items()
    }
    return {**raw, "optimizers": entries}


def write_refined_protocol(refined: RefinedProtocol, path: Path) -> Path:
    """Write ``refined`` as an ordinary protocol YAML file (validated first: an invalid
    refinement raises and writes nothing); :func:`tuning.spec.protocol.load_protocol` reads it."""

    parse_protocol(refined.raw, f"refined protocol {refined.name}")
    text = _header(refined) + yaml.dump(
        _flow_dimensions(refined.raw), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16
    )
    path.write_text(text, encoding="utf-8")
    return path










