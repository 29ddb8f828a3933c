"""A trial's track: the search (workload, protocol, optimizer) and study it belongs to, which stages, reruns and samplers plan along."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from optcompare.schema import (
    SearchKey,
)

if TYPE_CHECKING:
    from tuning.plan.trial import PlannedTrial

__all__ = [
    "Track",
    "track_of",
]


class Track(NamedTuple):
    """One independent search of a study: (search key, study number)."""

    key: SearchKey
    study: int


def track_of(trial: PlannedTrial) -> Track:
    return Track(SearchKey(trial.workload, trial.protocol, trial.optimizer), trial.study)
