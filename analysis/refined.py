"""The refined search spaces a staged protocol derived, as experiment.json records them.

During a run, each search of a staged protocol refines the space of a later stage from the rows
of the stage before (the rule is documented in docs/method.md) and ``optcompare run`` records
the result in experiment.json ``refined``: one entry per (workload, protocol, optimizer, study,
stage) with the stage it was refined from, the rule in a phrase, the best trials the ranges were
taken from and, per coordinate, the initial and refined space (``{min, max, scaling}`` or
``{feasible_points}``) and a note on what happened to its bounds. :func:`refined_spaces` reads
those entries (malformed ones are left out) for the report; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optcompare.schema import FIRST_STUDY

__all__ = ["RefinedCoordinateView", "RefinedSpace", "refined_spaces", "show_space"]


def show_space(dim: Any) -> str:
    """A dimension in one short phrase: ``[0.001, 1] log`` or ``{0.1, 0.5}``; ``-`` when it is
    neither."""
    if isinstance(dim, Mapping) and isinstance(dim.get("feasible_points"), list):
        return "{" + ", ".join(f"{float(p):.4g}" for p in dim["feasible_points"]) + "}"
    if isinstance(dim, Mapping) and {"min", "max"} <= set(dim):
        return f"[{float(dim['min']):.4g}, {float(dim['max']):.4g}] {dim.get('scaling', '')}".rstrip()
    return "-"


@dataclass(frozen=True)
class RefinedCoordinateView:
    """One coordinate of a refined space: its initial and refined dimension in words, the note."""

    name: str
    old: str
    new: str
    notes: str


@dataclass(frozen=True)
class RefinedSpace:
    """The space of ``stage`` of one search and study, refined from ``from_stage``."""

    workload: str
    protocol: str
    optimizer: str
    study: int
    """0 .. S-1; each study refines its own space from its own earlier stage."""
    stage: str
    from_stage: str
    rule: str
    """The refinement rule in a phrase, as the run recorded it."""
    best_trial_ids: tuple[str, ...]
    """The earlier stage's best trials the refined ranges span."""
    coordinates: tuple[RefinedCoordinateView, ...]


def _coordinate(item: Any) -> RefinedCoordinateView | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        return None
    notes = item.get("notes", "")
    if isinstance(notes, (list, tuple)):
        notes = "; ".join(map(str, notes))
    return RefinedCoordinateView(item["name"], show_space(item.get("old")), show_space(item.get("new")), str(notes))


def _entry(item: Any) -> RefinedSpace | None:
    keys = ("workload", "protocol", "optimizer")
    if not isinstance(item, Mapping) or not all(isinstance(item.get(k), str) for k in keys):
        return None
    study = item.get("study", FIRST_STUDY)
    coordinates = [c for c in map(_coordinate, item.get("coordinates") or []) if c is not None]
    return RefinedSpace(
        item["workload"], item["protocol"], item["optimizer"],
        study if isinstance(study, int) else FIRST_STUDY,
        str(item.get("stage", "")), str(item.get("from_stage", "")), str(item.get("rule", "")),
        tuple(str(t) for t in item.get("best_trial_ids") or []), tuple(coordinates),
    )


def refined_spaces(meta: Mapping[str, Any]) -> tuple[RefinedSpace, ...]:
    """experiment.json ``refined`` (module doc), sorted by workload, protocol, optimizer, study
    and stage; empty when absent."""
    recorded = meta.get("refined")
    entries = [e for e in map(_entry, recorded if isinstance(recorded, list) else []) if e is not None]
    return tuple(sorted(entries, key=lambda e: (e.workload, e.protocol, e.optimizer, e.study, e.stage)))
