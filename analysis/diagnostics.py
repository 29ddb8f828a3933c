"""Search-space diagnostics: where the best trials lie in each tuned hyperparameter's range.

A search space is refined until the best trials are not on its boundary (docs/method.md,
protocols): a best trial at the edge of a range says the optimum may lie outside it.

Position. For a tuned coordinate with range [lo, hi] (experiment.json ``searches[].space``, in
the coordinates of the ``tuned_<name>`` columns), a value v has position

    log scaling:     (log v - log lo) / (log hi - log lo)
    linear scaling:  (v - lo) / (hi - lo)
    feasible points: (index of v among the sorted points) / (number of points - 1)

so 0 is the lower end and 1 the upper end of the range's (log) width. The best trial is the
completed trial with the lowest selection metric (experiment.json ``select`` of the protocol,
``val_error`` by default: :func:`analysis.ranking.selection`). A warning is raised when its position is below
``edge`` or above ``1 - edge`` (default ``edge`` = 0.05, the outer 5% of the width): the
optimum may lie outside the range, so widen it on that side. A coordinate whose range is
unknown (no experiment.json record) is described with the observed extent of its values and
never warns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcompare.schema import METRICS, TUNED_PREFIX, SearchKey
from optcompare.searches import Search
from optcompare.space_range import SpaceRange, position_in_range

from .checks import check_metric
from .selection import select_for, selection

__all__ = [
    "HyperparameterDiagnostic",
    "search_space_diagnostics",
    "space_ranges",
]






def _parse_range(spec: Any) -> SpaceRange | None:
    if not isinstance(spec, Mapping):
        return None
    if "feasible_points" in spec:
        points = [
            p
            for p in spec["feasible_points"]
            if isinstance(p, (int, float)) and not isinstance(p, bool)
        ]
        if len(points) < 2:
            return None
        pts = tuple(sorted(float(p) for p in points))
        return SpaceRange(pts[0], pts[-1], "points", pts)
    low, high = spec.get("min"), spec.get("max")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or high <= low:
        return None
    scaling = "log" if spec.get("scaling") == "log" else "linear"
    return SpaceRange(float(low), float(high), scaling)


def space_ranges(meta: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, SpaceRange]]:
    """(protocol, optimizer) -> tuned coordinate -> range, from experiment.json ``searches``."""
    out: dict[tuple[str, str], dict[str, SpaceRange]] = {}
    for search in meta.get("searches", []) or []:
        if not isinstance(search, Mapping) or not isinstance(search.get("space"), Mapping):
            continue
        ranges = {
            name: r
            for name, spec in search["space"].items()
            if (r := _parse_range(spec)) is not None
        }
        out[(str(search.get("protocol")), str(search.get("optimizer")))] = ranges
    return out


def _observed(values: np.ndarray) -> SpaceRange | None:
    finite = values[np.isfinite(values)]
    if len(finite) == 0 or finite.min() == finite.max():
        return None
    low, high = float(finite.min()), float(finite.max())
    scaling = "log" if low > 0 and high / low >= 100 else "linear"
    return SpaceRange(low, high, scaling, source="observed")


@dataclass(frozen=True, eq=False)
class HyperparameterDiagnostic:
    """Where the best trials of one search lie along one tuned coordinate (module doc).

    ``values`` / ``select_values`` / ``completed`` are per trial (scatter data);
    ``top_positions`` are the positions of the best ``n_top`` completed trials, best first.
    ``warning`` is None, or a sentence naming the side to widen.
    """

    workload: str
    protocol: str
    optimizer: str
    name: str
    range: SpaceRange
    select: str
    best_trial_id: str | None
    best_value: float
    best_position: float
    top_positions: tuple[float, ...]
    warning: str | None
    values: np.ndarray
    select_values: np.ndarray
    completed: np.ndarray
    edge: float = 0.05
    """The fraction of the (log) width at each end that raises a warning."""

    @property
    def near_boundary(self) -> str | None:
        """``lower``, ``upper`` or None."""
        if self.warning is None:
            return None
        return "lower" if self.best_position < 0.5 else "upper"


def search_space_diagnostics(
    searches: Mapping[SearchKey, Search],
    meta: Mapping[str, Any] | None = None,
    *,
    select: str | None = None,
    edge: float = 0.05,
    top_fraction: float = 0.1,
) -> list[HyperparameterDiagnostic]:
    """One diagnostic per (search, tuned coordinate with at least one value), sorted.

    ``select`` overrides the per-protocol selection metric of experiment.json; ``top_fraction``
    of the completed trials (at least one) make up ``top_positions``.
    """
    if not 0.0 < edge < 0.5:
        raise ValueError(f"edge must be in (0, 0.5), got {edge}")
    if select is not None:
        check_metric(select, "select")
    meta = meta or {}
    chosen = selection(meta, select)
    ranges = space_ranges(meta)
    out = []
    for key in sorted(searches):
        search = searches[key]
        metric_name = select_for(chosen, search.protocol)
        sel = search.column(METRICS[metric_name].column)
        known = ranges.get((search.protocol, search.optimizer), {})
        for name in search.tuned_names():
            values = search.column(f"{TUNED_PREFIX}{name}")
            rng = known.get(name) or _observed(values)
            if rng is None:
                continue
            ok = search.completed & np.isfinite(sel) & np.isfinite(values)
            order = np.flatnonzero(ok)[np.argsort(sel[ok], kind="stable")]
            positions = position_in_range(values[order], rng)
            n_top = max(1, math.ceil(top_fraction * len(order))) if len(order) else 0
            warning = None
            if len(order):
                best = int(order[0])
                best_pos = float(positions[0])
                if (
                    rng.source == "experiment"
                    and np.isfinite(best_pos)
                    and (best_pos < edge or best_pos > 1 - edge)
                ):
                    side = "lower" if best_pos < 0.5 else "upper"
                    warning = (
                        f"{SearchKey(*key).prefix()}: best trial has {name} = "
                        f"{values[best]:.4g}, at {best_pos:.1%} of the range "
                        f"[{rng.low:.4g}, {rng.high:.4g}] ({rng.scaling}); it lies in the outer "
                        f"{edge:.0%} of the {side} end: widen the {side} bound"
                    )
                best_id, best_value = str(search.trial_id[best]), float(values[best])
            else:
                best_id, best_value, best_pos = None, math.nan, math.nan
            top = tuple(float(x) for x in positions[:n_top])
            out.append(
                HyperparameterDiagnostic(
                    *key, name, rng, metric_name, best_id, best_value, best_pos, top, warning,
                    values, sel, search.completed, edge,
                )
            )
    return out
