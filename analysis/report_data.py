"""The report's compute step: every statistic of one experiment as one frozen :class:`ReportData`.

:func:`analyse` loads an experiment and computes what the report shows: rankings with rank
probabilities at the budget K, bootstrapped budget curves, inclusion verdicts and rank flips,
steps to target, robustness of the ordering, search-space diagnostics, the best trials' curves,
reruns, inclusion probes, the summary across workloads (with two or more), the opening
"does the inclusion hierarchy hold?" rows (:mod:`analysis.headline`), the refined spaces
experiment.json records (:mod:`analysis.refined`), each study's ranking and their agreement
(:mod:`analysis.studies`, with two or more studies), each search's hyperparameter importance
(:mod:`analysis.importance`), samplers compared at equal budgets in ask order
(:mod:`analysis.ask_order`; the rankings of adaptive protocols use that rule too), all from the
rows of one stage selection
(:mod:`analysis.stages`), and the plan of the figures (:class:`analysis.figures.Figure`, data
only). Nothing here draws or writes;
:mod:`analysis.report_page` renders the result. docs/method.md gives the statistics'
definitions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from optcompare.errors import InputError
from optcompare.schema import METRICS, SearchKey
from optcompare.searches import Search, group_searches

from .across_workloads import CrossWorkloadSummary, summarize_workloads
from .ask_order import SamplerComparison, adaptive_protocols, ask_order_warnings, compare_samplers
from .bootstrap import BudgetCurve
from .causes import BreakCause, break_causes
from .checks import check_budgets, check_metric, check_resamples
from .curves import BestTrialCurve, align_curves, best_trial_curve
from .diagnostics import HyperparameterDiagnostic, search_space_diagnostics
from .figures import Figure
from .headline import HierarchyRow, hierarchy_rows
from .importance import DEFAULT_EVALUATOR, SearchImportance, searches_importance
from .inclusion import HierarchySummary, inclusion_pairs, summarize_hierarchy
from .load import Experiment, load_results
from .lost_ground import LostGround, lost_ground
from .probes import ProbeResult, probe_results
from .ranking import Ranking, bootstrap_searches, budget_warnings, default_budget, rankings_at
from .refined import RefinedSpace, refined_spaces
from .reruns import RerunSummary, rerun_summaries
from .rulesets import RulesetResult, protocol_rulesets, ruleset_results
from .selection import select_for, selection
from .speed import Robustness, SpeedRanking, ordering_robustness, speed_rankings, workload_targets
from .stages import select_stage, stage_names
from .studies import StudyComparison, compare_studies, default_study_budget, study_count

__all__ = ["ReportData", "analyse", "default_budgets", "plan_figures", "workload_targets"]


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the report shows, computed from one experiment."""

    experiment: str
    path: str
    budget: int
    """K: the number of trials at which rankings, verdicts and speed are taken."""
    budgets: tuple[int, ...]
    """The budgets of the budget curves (``budget`` among them)."""
    select: str | Mapping[str, str]
    """The selection metric: one for every protocol, or protocol -> metric."""
    report: str
    n_resamples: int
    seed: int
    rankings: tuple[Ranking, ...]
    budget_curves: Mapping[SearchKey, BudgetCurve]
    hierarchy: HierarchySummary
    speed: tuple[SpeedRanking, ...]
    robustness: tuple[Robustness, ...]
    diagnostics: tuple[HyperparameterDiagnostic, ...]
    best_curves: tuple[BestTrialCurve, ...]
    reruns: tuple[RerunSummary, ...]
    targets: Mapping[str, float]
    """Workload -> target value (experiment.json ``workloads[].target_value``, on the workload's
    ``target_metric``)."""
    skipped: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    """Warnings about the arguments (e.g. a budget above the largest search)."""
    figures: tuple[Figure, ...] = ()
    """The figures of the page in page order, as data (:func:`plan_figures`)."""
    rulesets: tuple[RulesetResult, ...] = ()
    """The scores of the protocols that follow a ruleset (:mod:`analysis.rulesets`)."""
    across_workloads: CrossWorkloadSummary | None = None
    """Performance profiles, standings and verdicts over the workloads
    (:func:`analysis.across_workloads.summarize_workloads`); None with fewer than two."""
    probes: tuple[ProbeResult, ...] = ()
    """Inclusion probes (:mod:`analysis.probes`); empty when the study has no probe rows."""
    stage: str = "final"
    """The stage selection of the rows (:mod:`analysis.stages`)."""
    stages: Mapping[str, Sequence[str]] | None = None
    """Protocol -> its stage names in order (experiment.json ``stages``)."""
    hierarchy_rows: tuple[HierarchyRow, ...] = ()
    """The opening answer, per (protocol, workload) (:mod:`analysis.headline`)."""
    refined: tuple[RefinedSpace, ...] = ()
    """The refined spaces experiment.json records (:mod:`analysis.refined`)."""
    studies: StudyComparison | None = None
    """Per-study rankings, spread and agreement at K (:mod:`analysis.studies`); None with one
    study."""
    importance: tuple[SearchImportance, ...] = ()
    """Each search's hyperparameter importance by :data:`IMPORTANCE_EVALUATOR`
    (:mod:`analysis.importance`)."""
    samplers: tuple[SamplerComparison, ...] = ()
    """Per (workload, optimizer) whose protocols differ in ``search:``, each protocol's
    best-so-far in ask order (:func:`analysis.ask_order.compare_samplers`)."""
    importance_evaluator: str = DEFAULT_EVALUATOR
    causes: tuple[BreakCause, ...] = ()
    """The cause of each violated verdict (:mod:`analysis.causes`)."""
    lost_ground: tuple[LostGround, ...] = ()
    """Searches whose later stage's best is worse than the earlier stage's
    (:mod:`analysis.lost_ground`, from every stage's rows)."""
    space_inclusion: tuple[Mapping[str, Any], ...] = ()
    """experiment.json ``space_inclusion``: what each protocol's wide spaces express of the
    narrow ones (:mod:`tuning.plan.space_inclusion`); empty for an experiment written before it."""


def default_budgets(max_trials: int, budget: int) -> tuple[int, ...]:
    """Powers of two up to ``max_trials`` (at least 1), plus ``budget``."""
    top = max(1, max_trials)
    powers = [2**i for i in range(int(math.log2(top)) + 1)]
    return tuple(sorted(set(powers) | {budget}))


def _check_arguments(report: str, select: str | None, n_resamples: int, budget: int | None) -> None:
    """ParameterError (an InputError) for an unknown metric or a count below 1."""
    check_metric(report, "report")
    if select is not None:
        check_metric(select, "select")
    check_resamples(n_resamples)
    if budget is not None:
        check_budgets([budget])


def _searches(exp: Experiment) -> dict[SearchKey, Search]:
    """The experiment's searches; InputError when it has none to report on."""
    searches = group_searches(exp.trials)
    if searches:
        return searches
    if exp.trials.num_rows:
        raise InputError(f"{exp.path} has no search trials (only reruns); nothing to report")
    raise InputError(f"{exp.path} has no finished trials yet; run or resume it first")


def analyse(
    experiment: Experiment | str,
    *,
    budget: int | None = None,
    budgets: Sequence[int] | None = None,
    select: str | None = None,
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    stage: str = "final",
) -> ReportData:
    """Rankings, budget curves, inclusion verdicts, speed, robustness, diagnostics and the
    figure plan, from the rows of stage selection ``stage`` (:func:`analysis.stages.
    select_stage`); with two or more studies also each study's ranking and their agreement
    (:func:`analysis.studies.compare_studies`), the pooled rankings being the main ones.

    ``budget`` (default: smallest search; with several studies, the smallest search of one
    study) is where rankings, verdicts and speed are taken; ``budgets`` (default: powers of two
    up to the largest search) are the budget curves'. ``select`` None uses each protocol's
    ``select`` from experiment.json (else val_error).
    """
    _check_arguments(report, select, n_resamples, budget)
    exp = load_results(experiment) if isinstance(experiment, str) else experiment
    lost = lost_ground(exp.trials, exp.meta, select)
    exp = select_stage(exp, stage)
    searches = _searches(exp)
    several = study_count(exp.meta, exp.trials) > 1
    if budget is None:
        budget = (default_study_budget(exp.trials) if several else None) or default_budget(searches)
    chosen = selection(exp.meta, select)
    largest = max(s.n_trials for s in searches.values())
    all_budgets = check_budgets([*(budgets or default_budgets(largest, budget)), budget], "budgets")
    warnings = budget_warnings(searches, all_budgets)
    resampling: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}
    adaptive = adaptive_protocols(exp.meta)
    warnings = [*warnings, *ask_order_warnings(searches, adaptive)]
    curves = bootstrap_searches(searches, all_budgets, select=chosen, report=report,
                                adaptive=adaptive, **resampling)
    rankings = rankings_at(curves, searches, budget)
    pairs = inclusion_pairs(exp.meta)
    aligned = align_curves(exp.curves, searches)
    best = (
        best_trial_curve(search, aligned[key], METRICS[select_for(chosen, search.protocol)].column)
        for key, search in searches.items()
    )
    data = ReportData(
        experiment=exp.name,
        path=exp.path,
        budget=budget,
        budgets=all_budgets,
        select=chosen,
        report=report,
        n_resamples=n_resamples,
        seed=seed,
        rankings=tuple(rankings),
        budget_curves=curves,
        hierarchy=summarize_hierarchy(curves, rankings, budget, pairs, alpha=alpha),
        speed=tuple(speed_rankings(searches, budget, meta=exp.meta, **resampling)),
        robustness=tuple(
            ordering_robustness(
                searches, aligned, budget, meta=exp.meta, select=chosen, report=report, **resampling
            )
        ),
        diagnostics=tuple(search_space_diagnostics(searches, exp.meta, select=select)),
        best_curves=tuple(c for c in best if c is not None),
        reruns=tuple(rerun_summaries(exp.trials, report)),
        probes=tuple(probe_results(exp.trials, chosen, report)),
        targets=workload_targets(exp.meta),
        skipped=exp.skipped,
        warnings=tuple(warnings),
        stage=stage,
        stages=stage_names(exp.meta, sorted({k.protocol for k in searches})),
        refined=refined_spaces(exp.meta),
        studies=compare_studies(
            exp.trials, [budget], pairs, select=chosen, report=report, alpha=alpha,
            meta=exp.meta, stage=stage, **resampling,
        ) if several else None,
        importance=searches_importance(searches, exp.meta, select=chosen, seed=seed),
        samplers=compare_samplers(searches, exp.meta, select=chosen, report=report),
        rulesets=ruleset_results(searches, protocol_rulesets(exp.meta)),
    )
    data = replace(
        data,
        hierarchy_rows=hierarchy_rows(rankings, data.hierarchy.verdicts, data.probes),
        causes=break_causes(data.hierarchy.verdicts, exp.meta, data.probes, stage),
        lost_ground=lost,
        space_inclusion=tuple(
            r for r in (exp.meta.get("space_inclusion") or []) if isinstance(r, Mapping) and "message" in r
        ),
        warnings=(*data.warnings, *(data.studies.warnings if data.studies is not None else ()),
                  *(w for r in data.rulesets for w in r.warnings)),
    )
    if len({r.workload for r in rankings}) >= 2:
        summary = summarize_workloads(rankings, data.speed, data.hierarchy.verdicts, budget=budget,
                                      select=chosen, report=report, n_resamples=n_resamples,
                                      rulesets=data.rulesets)
        data = replace(data, across_workloads=summary)
    return replace(data, figures=plan_figures(data))


def _slug(*parts: str) -> str:
    """A file stem from names: characters other than letters, digits, ``-`` and ``.`` become
    ``-``; parts are joined by ``_``."""
    return "_".join("".join(ch if ch.isalnum() or ch in "-." else "-" for ch in p) for p in parts)


def plan_figures(data: ReportData) -> tuple[Figure, ...]:
    """The figures of the page, in page order: per workload the final metric and the steps to
    target; per (workload, protocol) the budget curves, the best trials' curves and, where
    coordinates were tuned, the hyperparameter scatter; then, across workloads, the performance
    profiles of each protocol."""
    return (*_figures(data), *_profile_figures(data))


def _figures(data: ReportData) -> Iterator[Figure]:
    k, metric_name = data.budget, data.report
    for w in sorted({r.workload for r in data.rankings}):
        rankings = tuple(r for r in data.rankings if r.workload == w)
        yield Figure(
            "final_error",
            _slug("final", w),
            f"{w}: best-trial {metric_name} per optimizer and protocol at K={k} (mean, 5-95%)",
            rankings,
            {"metric": metric_name, "budget": k},
        )
        yield Figure(
            "steps_to_target",
            _slug("speed", w),
            f"{w}: steps to target per optimizer and protocol at K={k} (median, 5-95%)",
            tuple(s for s in data.speed if s.workload == w),
        )
        for p in (r.protocol for r in rankings):
            yield from _protocol_figures(data, w, p)


def _profile_figures(data: ReportData) -> Iterator[Figure]:
    summary = data.across_workloads
    for p in summary.protocols if summary is not None else ():
        yield Figure(
            "performance_profiles",
            _slug("profiles", p.protocol),
            f"{p.protocol}: performance profiles over {len(p.workloads)} workloads at K={data.budget}: "
            "fraction of workloads on which each optimizer is within a factor tau of the best "
            "(legend: score, the normalised area)"
            + ("" if p.ruleset is None else f"; the last panel: the ruleset's score ({p.ruleset.meaning})"),
            (*p.profiles, *(() if p.ruleset is None else (p.ruleset.profile,))),
            {"title": f"{p.protocol} across workloads"},
        )


def _protocol_figures(data: ReportData, w: str, p: str) -> Iterator[Figure]:
    by_optimizer = {o: c for (wk, pk, o), c in data.budget_curves.items() if (wk, pk) == (w, p)}
    yield Figure(
        "budget_curves",
        _slug("budget", w, p),
        f"{w} / {p}: best-trial {data.report} against the number of trials (mean, 5-95%)",
        by_optimizer,
        {"title": f"{w} / {p}", "metric": data.report},
    )
    yield Figure(
        "training_curves",
        _slug("curves", w, p),
        f"{w} / {p}: validation error of each optimizer's best trial",
        tuple(c for c in data.best_curves if (c.workload, c.protocol) == (w, p)),
        {"title": f"{w} / {p}: best trials", "target": data.targets.get(w)},
    )
    diagnostics = tuple(d for d in data.diagnostics if (d.workload, d.protocol) == (w, p))
    for c in (c for c in data.samplers if c.workload == w and c.curves[0].protocol == p):
        yield Figure(
            "samplers",
            _slug("samplers", w, c.optimizer),
            f"{w} / {c.optimizer}: {c.report} of the best-by-{c.select} trial among the first K "
            "trials in ask order, per protocol (line: median over studies; band: min-max)",
            c,
            {"title": f"{w} / {c.optimizer}: samplers at equal budgets"},
        )
    if diagnostics:
        yield Figure(
            "hyperparameters",
            _slug("hparams", w, p),
            f"{w} / {p}: final selection metric over each tuned hyperparameter "
            "(star: best trial; dashed: range)",
            diagnostics,
            {"title": f"{w} / {p}"},
        )
