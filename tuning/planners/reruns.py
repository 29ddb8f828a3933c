"""Reruns of each search's best trial (protocols with ``rerun_best``), planned as results arrive.

The plan is data, but a rerun depends on results: :class:`SearchBests` counts the finished
search trials of every tracked search (one :class:`~tuning.planners.stages.Track`: a search in one
study) and, when the last one finishes, names the best completed trial by the protocol's
selection metric (ties: lowest trial index; a search with no completed trial has none). For a
staged protocol only its last stage counts: the best is the last stage's best, once all of that
stage's trials (planned later, :mod:`tuning.planners.stages`) have finished. :class:`RerunPlanner` plans ``seeds`` reruns of that best trial
(:func:`tuning.plan.resolve.rerun_trials`); :class:`tuning.planners.probes.ProbePlanner` plans inclusion probes
from the same machinery. Pure bookkeeping, no Ray: the driver's searcher drains :meth:`take`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from optcompare.schema import COMPLETED, FINAL_STAGE, METRICS, SEARCH_PHASE
from tuning.plan.resolve import rerun_trials
from tuning.plan.tracks import Track, track_of
from tuning.plan.trial import PlannedTrial
from tuning.spec.rerun_rules import RerunRule
from tuning.spec.stages import StageSlot

if TYPE_CHECKING:
    pass

__all__ = [
    "RerunPlanner",
    "SearchBests",
]






class SearchBests:
    """Search finished -> its best completed trial, for the searches of the tracked protocols.

    ``selects`` maps a protocol name to its selection metric; searches of other protocols are
    not tracked. Only ``search``-phase trials of the protocol's last stage count; ``finals``
    gives the last stage's slot of each staged protocol (:func:`tuning.spec.stages.final_layout`),
    whose trials are not in ``plan`` yet.
    """

    def __init__(
        self, plan: Iterable[PlannedTrial], selects: Mapping[str, str],
        finals: Mapping[str, StageSlot] | None = None,
    ) -> None:
        self.selects = dict(selects)
        self.finals = dict(finals or {})
        self.remaining: dict[Track, int] = {}
        self.size: dict[Track, int] = {}
        """Trials planned per search (the first index free for reruns and probes)."""
        self.results: dict[Track, list[tuple[PlannedTrial, float]]] = {}
        for trial in plan:
            if trial.phase == SEARCH_PHASE and trial.protocol in self.selects:
                key = track_of(trial)
                final = self.finals.get(trial.protocol)
                if final is not None:
                    self.remaining[key] = final.count
                    self.size[key] = final.first + final.count
                else:
                    self.remaining[key] = self.remaining.get(key, 0) + 1
                    self.size[key] = max(self.size.get(key, 0), trial.trial_index + 1)
                self.results.setdefault(key, [])

    def _last_stage(self, protocol: str) -> str:
        final = self.finals.get(protocol)
        return FINAL_STAGE if final is None else final.stage.name

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> Track | None:
        """Note a finished trial (``summary`` None when it failed); return its search when this
        was the search's last unfinished trial, else None."""
        key = track_of(trial)
        if (
            trial.phase != SEARCH_PHASE or self.remaining.get(key, 0) == 0
            or trial.stage != self._last_stage(trial.protocol)
        ):
            return None
        if summary is not None and summary.get("status") == COMPLETED:
            value = summary.get(METRICS[self.selects[trial.protocol]].column)
            if value is not None and math.isfinite(float(value)):
                self.results[key].append((trial, float(value)))
        self.remaining[key] -= 1
        return key if self.remaining[key] == 0 else None

    def finished(self, key: Track) -> bool:
        """Every trial of tracked search ``key`` has finished."""
        return key in self.remaining and self.remaining[key] == 0

    def best(self, key: Track) -> PlannedTrial | None:
        """The best completed trial of ``key`` so far (lowest metric, then lowest index)."""
        if not self.results.get(key):
            return None
        return min(self.results[key], key=lambda tv: (tv[1], tv[0].trial_index))[0]

    def open_searches(self) -> list[Track]:
        """Tracked searches with trials still to finish."""
        return [k for k, n in self.remaining.items() if n > 0]


class RerunPlanner:
    """Tracks searches that end in reruns and plans those reruns when a search completes."""

    def __init__(
        self,
        plan: Iterable[PlannedTrial],
        reruns: Mapping[str, tuple[int, str]],
        experiment_seed: int,
        finals: Mapping[str, StageSlot] | None = None,
    ) -> None:
        """``reruns``: protocol name -> :class:`RerunRule` (or a (seeds, select) pair) for
        protocols that rerun; ``finals`` as for :class:`SearchBests`."""
        self.seed = experiment_seed
        self.reruns = {name: RerunRule(*rule) for name, rule in reruns.items()}
        self.searches = SearchBests(
            plan, {name: rule.select for name, rule in self.reruns.items() if rule.seeds > 0}, finals
        )
        self.ready: deque[PlannedTrial] = deque()

    @property
    def max_reruns(self) -> int:
        """Reruns still to come at most (searches whose trials have not all finished)."""
        return sum(self.reruns[k.key.protocol].seeds for k in self.searches.open_searches())

    def outstanding(self) -> bool:
        """Whether more reruns may still be planned (some rerun search is unfinished)."""
        return bool(self.searches.open_searches())

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> list[PlannedTrial]:
        """Note a finished trial (``summary`` None when it failed); return reruns planned now."""
        key = self.searches.record(trial, summary)
        best = None if key is None else self.searches.best(key)
        if key is None or best is None:
            return []
        planned = rerun_trials(best, self.searches.size[key], self.reruns[key.key.protocol].seeds, self.seed)
        self.ready.extend(planned)
        return planned

    def close_search(self, key: Track) -> None:
        """Plan no (more) reruns for search ``key``: its reruns already ran (resume)."""
        if key in self.searches.remaining:
            self.searches.remaining[key] = 0

    def take(self) -> PlannedTrial | None:
        """The next planned rerun, if any."""
        return self.ready.popleft() if self.ready else None
