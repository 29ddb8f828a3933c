"""An adaptive search's fixed part (:class:`AdaptiveSearch`): its space as Optuna distributions and its trials' identities, and what a finished trial tells the sampler (:func:`told`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optcompare.schema import (
    COMPLETED,
    FAILED,
    METRICS,
    SearchKey,
    is_adaptive,
)
from tuning.plan.quasirandom import sample
from tuning.plan.resolve import derive_seed, search_template, trial_at
from tuning.plan.tracks import Track
from tuning.spec.config import ExperimentConfig
from tuning.spec.stages import stage_seed_parts

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

    from tuning.plan.trial import PlannedTrial
    from tuning.spec.search import SearchSpec

__all__ = [
    "AdaptiveSearch",
    "adaptive_searches",
    "distributions",
    "told",
]


def distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, BaseDistribution]:
    """One Optuna distribution per searched coordinate, in sorted name order (module docstring)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    result: dict[str, BaseDistribution] = {}
    for name in sorted(space):
        dim = space[name]
        if "feasible_points" in dim:
            result[name] = CategoricalDistribution(list(dim["feasible_points"]))
        else:
            result[name] = FloatDistribution(float(dim["min"]), float(dim["max"]), log=dim["scaling"] == "log")
    return result


def told(status: str, value: object, select: str, *, finite_only: bool = False) -> tuple[str, float | None]:
    """(Optuna trial state name, value) a finished trial is told as (module docstring):
    ``status`` and the selection metric ``select``'s value in its row."""
    if status == FAILED:
        return "FAIL", None
    number = _float(value)
    if status == COMPLETED and math.isfinite(number):
        return "COMPLETE", number
    worst = METRICS[select].worst
    if finite_only and not math.isfinite(worst):
        return "FAIL", None
    return "COMPLETE", worst


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]  # any value: its TypeError is caught
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class AdaptiveSearch:
    """One adaptive search of one study, as planned: what is asked, and how a point becomes a
    trial (:func:`tuning.plan.adaptive_search.adaptive_searches`)."""

    track: Track
    spec: SearchSpec
    sampler: str
    options: Mapping[str, Any]
    seed: int
    """The sampler's seed (derived from the experiment seed and the search, as Halton seeds are)."""
    budget: int
    """Points to ask at most (``trials_per_search``)."""
    select: str
    template: PlannedTrial
    """Everything its trials share (:func:`tuning.plan.resolve.search_template`)."""
    experiment_seed: int

    def trial(self, index: int, point: Mapping[str, Any]) -> PlannedTrial:
        """Trial ``index`` of this search at ``point`` (id, seed, hyperparameters as planned)."""

        return trial_at(self.template, self.spec, index, point, self.experiment_seed)

    def stand_ins(self) -> list[PlannedTrial]:
        """``budget`` trials at scrambled Halton points of the space, as a quasi-random search
        would plan them: what bundle sizes are chosen from (:mod:`tuning.driver.bundle_probe`),
        never run."""

        points = sample(self.spec.space, self.budget, self.seed) if self.spec.space else [{}] * self.budget
        return [self.trial(index, point) for index, point in enumerate(points)]


def adaptive_searches(config: ExperimentConfig) -> list[AdaptiveSearch]:
    """Every adaptive search of ``config`` in plan order (workloads, protocols, optimizers,
    studies): nothing is planned for them up front; the sampler's seed is
    ``sha256(seed/W/P/O[/sS]/sampler)``."""
    return [
        AdaptiveSearch(
            track=Track(SearchKey(entry.name, protocol.name, opt), study),
            spec=protocol.for_optimizer(opt),
            sampler=protocol.search,
            options=dict(protocol.sampler_options),
            seed=derive_seed(config.seed, entry.name, protocol.name, opt, *stage_seed_parts(study), "sampler"),
            budget=config.trials_per_search,
            select=protocol.select,
            template=search_template(config, entry, protocol, opt, study),
            experiment_seed=config.seed,
        )
        for entry in config.workloads
        for protocol in config.protocols
        if is_adaptive(protocol.search)
        for opt in config.optimizers
        for study in range(config.studies)
    ]
