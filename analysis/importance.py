"""Hyperparameter importance per search: how much each tuned coordinate matters to the
selection metric, by Optuna's importance evaluators on a study rebuilt from the trials rows.

Per (workload, protocol, optimizer), the rows of the stage selection (every study pooled: the
importance describes the response of the selection metric to the coordinates, which repeated
studies sample alike) become one in-memory Optuna study (:func:`analysis.optuna_study.
rebuilt_trials`: diverged trials at the worst finite selection value of the search, failed
trials left out). Coordinates are the tuned ones, in their own units; a log-scaled coordinate is
taken on its logarithm (its log width is what the search sampled), for every evaluator.

Evaluators (:data:`EVALUATORS`):

- ``ped-anova`` (default): Optuna's ``PedAnovaImportanceEvaluator`` (Watanabe et al. 2023):
  the importance of coordinate d is the Pearson divergence between the Parzen density of the
  top 10% trials, p_top, and that of all trials, p_all, along d,
  I_d = integral p_all(x) (p_top(x) / p_all(x) - 1)^2 dx, normalised here to sum to 1;
- ``fanova``: Optuna's ``FanovaImportanceEvaluator`` (Hutter et al. 2014): a random forest
  (64 trees, seed ``seed``) fitted to the values, and the fraction of its variance explained by
  each coordinate alone, normalised to sum to 1.

A search with fewer than :data:`MIN_COMPLETED` completed trials is skipped with a note; so is
one that tunes no coordinate. Optuna's own warnings (few trials in the top quantile) become the
search's notes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from optcompare.errors import InputError, ParameterError
from optcompare.schema import SearchKey
from optcompare.searches import Search, group_searches

from .checks import check_metric
from .diagnostics import space_ranges
from .load import Experiment, load_results
from .optuna_study import create_study, rebuilt_trials
from .selection import select_for, selection
from .stages import select_stage

if TYPE_CHECKING:
    from optuna.importance import BaseImportanceEvaluator

__all__ = [
    "DEFAULT_EVALUATOR",
    "EVALUATORS",
    "MIN_COMPLETED",
    "CoordinateImportance",
    "ExperimentImportance",
    "SearchImportance",
    "check_evaluator",
    "experiment_importance",
    "search_importance",
    "searches_importance",
]


def _ped_anova(seed: int) -> BaseImportanceEvaluator:
    from optuna.importance import PedAnovaImportanceEvaluator

    del seed  # PED-ANOVA is deterministic
    return PedAnovaImportanceEvaluator()


def _fanova(seed: int) -> BaseImportanceEvaluator:
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=seed)


EVALUATORS: dict[str, Callable[[int], BaseImportanceEvaluator]] = {
    "ped-anova": _ped_anova,
    "fanova": _fanova,
}
"""Evaluator name -> factory ``f(seed)`` of the Optuna evaluator (module doc)."""
DEFAULT_EVALUATOR = "ped-anova"
MIN_COMPLETED = 2
"""Completed trials a search needs for an importance (Optuna's evaluators need two)."""


def check_evaluator(name: str) -> str:
    """``name`` when it is one of :data:`EVALUATORS`; ParameterError listing them otherwise."""
    if name not in EVALUATORS:
        raise ParameterError(
            "evaluator", f"{{name}} {name!r} is unknown; choose one of {', '.join(EVALUATORS)}"
        )
    return name


@dataclass(frozen=True)
class CoordinateImportance:
    """One tuned coordinate's share of the importance (the shares of a search sum to 1)."""

    name: str
    importance: float
    scaling: str
    """``log`` (measured on its logarithm), ``linear`` or ``points``."""


@dataclass(frozen=True)
class SearchImportance:
    """The importances of one search, most important first; empty when skipped (``notes``
    says why)."""

    workload: str
    protocol: str
    optimizer: str
    select: str
    n_trials: int
    n_completed: int
    n_diverged: int
    """Trials counted at the worst finite value ``worst`` (diverged, or non-finite)."""
    n_failed: int
    worst: float
    coordinates: tuple[CoordinateImportance, ...]
    notes: tuple[str, ...] = ()

    @property
    def skipped(self) -> bool:
        return not self.coordinates


@dataclass(frozen=True)
class ExperimentImportance:
    """Every search's importances under one evaluator."""

    experiment: str
    evaluator: str
    stage: str
    searches: tuple[SearchImportance, ...]
    skipped: tuple[str, ...] = ()
    """Unreadable part files."""

    def as_dict(self) -> dict[str, Any]:
        """``{"experiment", "evaluator", "stage", "searches": [{"workload", ..., "coordinates":
        [{"name", "importance", "scaling"}], "notes": [...]}]}``."""
        return {
            "experiment": self.experiment,
            "evaluator": self.evaluator,
            "stage": self.stage,
            "searches": [
                {**asdict(s), "coordinates": [asdict(c) for c in s.coordinates],
                 "notes": list(s.notes)}
                for s in self.searches
            ],
        }


def _scaling(distribution: Any, log: bool) -> str:
    if hasattr(distribution, "choices"):
        return "points"
    return "log" if log else "linear"


def search_importance(
    search: Search,
    ranges: Mapping[str, Any],
    select: str,
    evaluator: str = DEFAULT_EVALUATOR,
    *,
    seed: int = 0,
) -> SearchImportance:
    """The importance of each tuned coordinate of ``search`` (module doc), selecting by metric
    ``select``; ``ranges`` are its recorded ranges (:func:`analysis.diagnostics.space_ranges`)."""
    check_evaluator(evaluator)
    rebuilt = rebuilt_trials(search, ranges, select, log_as_linear=True)
    counts = (search.n_trials, rebuilt.n_completed, rebuilt.n_imputed, rebuilt.n_failed,
              rebuilt.worst)
    base = (search.workload, search.protocol, search.optimizer, select, *counts)
    notes = []
    if rebuilt.n_imputed:
        notes.append(f"{rebuilt.n_imputed} diverged trial(s) counted at the worst finite "
                     f"{select} of the search, {rebuilt.worst:.4g}")
    if rebuilt.n_completed < MIN_COMPLETED:
        reason = (f"skipped: {rebuilt.n_completed} completed trial(s); the importance needs at "
                  f"least {MIN_COMPLETED}")
        return SearchImportance(*base, (), (*notes, reason))
    if not rebuilt.distributions:
        return SearchImportance(*base, (), (*notes, "skipped: no tuned coordinate"))
    study = create_study(rebuilt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = EVALUATORS[evaluator](seed).evaluate(study)
    notes += sorted({str(w.message) for w in caught})
    total = sum(raw.values())
    if not total > 0:
        return SearchImportance(*base, (), (*notes, "skipped: no coordinate changes the "
                                            f"{select} measurably (every importance is 0)"))
    coordinates = sorted(
        (CoordinateImportance(n, float(v / total), _scaling(rebuilt.distributions[n], n in rebuilt.logged))
         for n, v in raw.items()),
        key=lambda c: (-c.importance, c.name),
    )
    return SearchImportance(*base, tuple(coordinates), tuple(notes))


def searches_importance(
    searches: Mapping[SearchKey, Search],
    meta: Mapping[str, Any],
    *,
    evaluator: str = DEFAULT_EVALUATOR,
    select: str | Mapping[str, str] | None = None,
    seed: int = 0,
) -> tuple[SearchImportance, ...]:
    """:func:`search_importance` of every search, by key; ``select`` None takes each protocol's
    from experiment.json."""
    check_evaluator(evaluator)
    chosen = selection(meta) if select is None else select
    ranges = space_ranges(meta)
    return tuple(
        search_importance(s, ranges.get((k.protocol, k.optimizer), {}),
                          select_for(chosen, k.protocol), evaluator, seed=seed)
        for k, s in sorted(searches.items())
    )


def experiment_importance(
    experiment: Experiment | str,
    *,
    evaluator: str = DEFAULT_EVALUATOR,
    select: str | None = None,
    stage: str = "final",
    seed: int = 0,
) -> ExperimentImportance:
    """The importances of every search of ``experiment`` (a directory or a loaded experiment)
    in stage selection ``stage``; arguments are checked before anything is read."""
    check_evaluator(evaluator)
    if select is not None:
        check_metric(select, "select")
    exp = load_results(experiment, curves=False) if isinstance(experiment, str) else experiment
    exp = select_stage(exp, stage)
    searches = group_searches(exp.trials)
    if not searches:
        raise InputError(f"{exp.path} has no search trials yet; run or resume it first")
    return ExperimentImportance(
        exp.name, evaluator, stage,
        searches_importance(searches, exp.meta, evaluator=evaluator, select=select, seed=seed),
        exp.skipped,
    )

