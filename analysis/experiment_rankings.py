"""An experiment's rankings, as ``optcompare rank`` prints them: read the experiment, take the
rows of a stage selection, rank every search at each budget (adaptive protocols in ask order),
and, with two or more studies, rank each study too. This orchestrates the primitives of
:mod:`analysis.ranking`, :mod:`analysis.ask_order`, :mod:`analysis.studies` and
:mod:`analysis.inclusion`, which therefore need not import each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ask_order import adaptive_protocols, ask_order_warnings
from .inclusion import inclusion_pairs
from .load import load_experiment
from .ranking import (
    BudgetRankings,
    budget_warnings,
    check_rank_arguments,
    default_budget,
    rank_searches,
    searches_of,
)
from .selection import selection
from .stages import select_stage_rows
from .studies import StudyComparison, compare_studies, default_study_budget, study_count

__all__ = ["ExperimentRankings", "rank_experiment", "skipped_budget_warnings"]


@dataclass(frozen=True)
class ExperimentRankings:
    """An experiment's rankings at each budget (ascending, one bootstrap draw), the part files
    that were skipped and warnings about the budgets (:func:`analysis.ranking.budget_warnings`).

    ``stage`` is the stage selection the rows were taken from (:mod:`analysis.stages`);
    ``studies`` the per-study rankings, spread and agreement (:mod:`analysis.studies`) when the
    experiment has two or more studies (the rankings of ``by_budget`` pool them)."""

    experiment: str
    by_budget: tuple[BudgetRankings, ...]
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]
    stage: str = "final"
    studies: StudyComparison | None = None


def rank_experiment(
    experiment: str,
    budgets: Sequence[int] | None = None,
    *,
    select: str | None = None,
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
    stage: str = "final",
) -> ExperimentRankings:
    """:func:`analysis.ranking.rank_optimizers_at` over the trials of the experiment directory ``experiment``
    of stage selection ``stage`` (:func:`analysis.stages.select_stage_rows`), with the files
    skipped while reading it and :func:`analysis.ranking.budget_warnings`. The searches of adaptive protocols
    (experiment.json ``protocols[P]["search"]`` an Optuna sampler) are ranked by the ask-order
    rule (:mod:`analysis.ask_order`), with a warning saying so. With two or more studies the rankings
    pool them, each study is ranked too (:func:`analysis.studies.compare_studies`) and the
    default budget is the smallest search of any one study.

    ``select`` None selects each protocol's best trials by the ``select`` experiment.json records
    for it (:func:`selection`), as ``summary``, ``report`` and ``importance`` do; a metric
    selects every protocol's by it. The arguments are checked before anything is read (``stage``
    once experiment.json names the stages); a budget above :data:`analysis.ranking.MAX_BUDGET_FACTOR` times the largest search is refused.
    """
    chosen = check_rank_arguments(budgets, select, report, n_resamples)
    meta, loaded = load_experiment(experiment)
    chosen_select = selection(meta, select)
    trials = select_stage_rows(loaded.table, meta, stage, experiment)
    searches = searches_of(trials, experiment)
    several = study_count(meta, trials) > 1
    default = (default_study_budget(trials) if several else None) or default_budget(searches)
    used = chosen or (default,)
    adaptive = adaptive_protocols(meta)
    warnings = [
        *budget_warnings(searches, used), *ask_order_warnings(searches, adaptive),
        *skipped_budget_warnings(loaded.skipped, None if chosen else default),
    ]
    by_budget = rank_searches(searches, used, chosen_select, report, n_resamples, seed, adaptive)
    studies = compare_studies(
        trials, used, inclusion_pairs(meta), select=chosen_select, report=report,
        n_resamples=n_resamples, seed=seed, meta=meta, stage=stage,
    ) if several else None
    return ExperimentRankings(
        experiment=experiment,
        by_budget=tuple(
            BudgetRankings(b, chosen_select, report, n_resamples, tuple(r)) for b, r in by_budget.items()
        ),
        skipped=tuple(loaded.skipped),
        warnings=(*warnings, *(studies.warnings if studies is not None else ())),
        stage=stage,
        studies=studies,
    )


def skipped_budget_warnings(skipped: tuple[str, ...] | list[str], default: int | None) -> list[str]:
    """A warning when the default budget (``default``; None: the caller chose the budgets) was
    taken from rows read while part files were ``skipped``: a search whose rows were in an
    unreadable file looks smaller, and the default budget (its smallest search) drops with it."""
    if default is None or not skipped:
        return []
    files = f"{len(skipped)} part file{'s' if len(skipped) > 1 else ''}"
    return [
        f"the default budget K = {default} is the smallest search read, and {files} could not be "
        "read: a search with rows in them looks smaller than it ran, so K may be too; give "
        "--budget to rank at the budget the study ran"
    ]
