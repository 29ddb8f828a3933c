"""Every planner of one run behind one object, and the one place that tells them about a finished
trial.

A run has four planners: the adaptive searches' studies (:mod:`tuning.planners.adaptive`), which
ask new points, and three *followup* planners, which plan trials that depend on results: later
stages (:mod:`tuning.planners.stages`), reruns (:mod:`tuning.planners.reruns`) and inclusion
probes (:mod:`tuning.planners.probes`). A followup planner is told each finished trial
(:meth:`FollowupPlanner.record`) and queues what it plans on ``ready``.

The live run tells them through :meth:`Planners.record` (the book, as each trial's final row is
recorded); resume replays every finished trial through :meth:`Planners.replay`, in plan order,
which tells the followup planners exactly as the live run did and returns what they planned
(the adaptive studies are rebuilt from the rows instead: :meth:`AdaptivePlanner.restore`). A
planner's followups do not depend on another planner's, so telling all three and then taking
from each in turn gives the order the live run takes them in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from tuning.plan.trial import PlannedTrial
from tuning.planners.adaptive import AdaptivePlanner
from tuning.planners.probes import ProbePlanner
from tuning.planners.reruns import RerunPlanner
from tuning.planners.stages import StagePlanner

__all__ = ["FollowupPlanner", "Planners"]


class FollowupPlanner(Protocol):
    """A planner of trials that depend on results (later stages, reruns, probes)."""

    ready: deque[PlannedTrial]
    """Trials planned and not yet taken, in the order they run."""

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> list[PlannedTrial]:
        """Learn that ``trial`` finished (``summary``: its final row; None: it failed); returns
        the trials this planned (also queued on :attr:`ready`)."""
        ...

    def take(self) -> PlannedTrial | None:
        """The next trial of :attr:`ready` (None when empty)."""
        ...

    def outstanding(self) -> bool:
        """Whether this may still plan trials (some search it waits for is unfinished)."""
        ...


@dataclass
class Planners:
    """The planners of one run (module docstring); each defaults to one that plans nothing."""

    stages: StagePlanner = field(default_factory=lambda: StagePlanner((), (), 0, 0))
    reruns: RerunPlanner = field(default_factory=lambda: RerunPlanner((), {}, 0))
    probes: ProbePlanner = field(default_factory=lambda: ProbePlanner((), (), {}))
    adaptive: AdaptivePlanner = field(default_factory=AdaptivePlanner)

    @property
    def followups(self) -> tuple[FollowupPlanner, ...]:
        """The followup planners, in the order a finished trial is told to them and their
        trials are taken."""
        return (self.stages, self.reruns, self.probes)

    def _tell_followups(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> None:
        for planner in self.followups:
            planner.record(trial, summary)

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> None:
        """The live run: ``trial`` finished (``summary``: its final row; None: it failed); tell
        the adaptive studies and the followup planners."""
        self.adaptive.record(trial, summary)
        self._tell_followups(trial, summary)

    def replay(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> list[PlannedTrial]:
        """Resume: tell the followup planners that ``trial`` finished, as :meth:`record` did in
        the run that wrote its row, and take every trial they plan from it (module docstring)."""
        self._tell_followups(trial, summary)
        planned: list[PlannedTrial] = []
        for planner in self.followups:
            while (followup := planner.take()) is not None:
                planned.append(followup)
        return planned

    @property
    def max_followups(self) -> int:
        """Later stages' trials, reruns and probes still to be planned, at most."""
        return self.stages.max_stage_trials + self.reruns.max_reruns + self.probes.max_probes
