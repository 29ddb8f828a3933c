"""Reruns of each search's best trial (protocols with ``rerun_best``), planned as results arrive.

The plan is data, but a rerun depends on results: :class:`RerunPlanner` counts the finished
search trials of every search whose protocol asks for reruns; when the last one finishes it picks
the best completed trial by the protocol's selection metric (ties: lowest trial index) and plans
``seeds`` reruns of it (:func:`tuning.plan.rerun_trials`). A search with no completed trial gets
no reruns. Pure bookkeeping, no Ray: the driver's searcher drains :meth:`take`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from optcompare.schema import COMPLETED, METRICS, SEARCH_PHASE, SearchKey

from .plan import PlannedTrial, rerun_trials
from .rows import search_key

if TYPE_CHECKING:
    from .protocol import Protocol

__all__ = ["RerunPlanner", "RerunRule", "rerun_rules"]


class RerunRule(NamedTuple):
    """How a protocol reruns each search's best trial: ``seeds`` new seeds, best by ``select``
    (a metric name of :data:`optcompare.schema.SELECT_METRICS`)."""

    seeds: int
    select: str


def rerun_rules(protocols: Iterable[Protocol]) -> dict[str, RerunRule]:
    """Protocol name -> its :class:`RerunRule`, for the protocols that rerun (``rerun_best``)."""
    return {p.name: RerunRule(p.rerun_seeds, p.select) for p in protocols if p.rerun_seeds}


class RerunPlanner:
    """Tracks searches that end in reruns and plans those reruns when a search completes."""

    def __init__(
        self,
        plan: Iterable[PlannedTrial],
        reruns: Mapping[str, tuple[int, str]],
        experiment_seed: int,
    ) -> None:
        """``reruns``: protocol name -> :class:`RerunRule` (or a (seeds, select) pair) for
        protocols that rerun."""
        self.seed = experiment_seed
        self.reruns = {name: RerunRule(*rule) for name, rule in reruns.items()}
        self.remaining: dict[SearchKey, int] = {}
        self.size: dict[SearchKey, int] = {}
        self.results: dict[SearchKey, list[tuple[PlannedTrial, float]]] = {}
        self.ready: deque[PlannedTrial] = deque()
        for trial in plan:
            rule = self.reruns.get(trial.protocol)
            if trial.phase == SEARCH_PHASE and rule is not None and rule.seeds > 0:
                key = search_key(trial)
                self.remaining[key] = self.remaining.get(key, 0) + 1
                self.size[key] = max(self.size.get(key, 0), trial.trial_index + 1)
                self.results.setdefault(key, [])

    @property
    def max_reruns(self) -> int:
        """Reruns still to come at most (searches whose trials have not all finished)."""
        return sum(self.reruns[k.protocol].seeds for k, n in self.remaining.items() if n > 0)

    def outstanding(self) -> bool:
        """Whether more reruns may still be planned (some rerun search is unfinished)."""
        return any(n > 0 for n in self.remaining.values())

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> list[PlannedTrial]:
        """Note a finished trial (``summary`` None when it failed); return reruns planned now."""
        key = search_key(trial)
        if trial.phase != SEARCH_PHASE or key not in self.remaining or self.remaining[key] == 0:
            return []
        seeds, select = self.reruns[trial.protocol]
        if summary is not None and summary.get("status") == COMPLETED:
            value = summary.get(METRICS[select].column)
            if value is not None and math.isfinite(float(value)):
                self.results[key].append((trial, float(value)))
        self.remaining[key] -= 1
        if self.remaining[key] > 0 or not self.results[key]:
            return []
        best, _ = min(self.results[key], key=lambda tv: (tv[1], tv[0].trial_index))
        planned = rerun_trials(best, self.size[key], seeds, self.seed)
        self.ready.extend(planned)
        return planned

    def close_search(self, trial: PlannedTrial) -> None:
        """Plan no (more) reruns for ``trial``'s search: its reruns already ran (resume)."""
        key = search_key(trial)
        if key in self.remaining:
            self.remaining[key] = 0

    def take(self) -> PlannedTrial | None:
        """The next planned rerun, if any."""
        return self.ready.popleft() if self.ready else None
