"""The cross-workload summary: per protocol, performance profiles, mean ranks and wins over the
workloads, and every workload's inclusion verdicts in one table (docs/method.md section 9.6).

Per protocol, over the workloads that ran it:

- two performance profiles (:mod:`analysis.profiles`): of the steps to target (each search's
  bootstrapped median steps to the workload's target at budget K, :func:`analysis.speed.
  speed_rankings`; never reached = +inf) and of the final reported metric (the ranking's
  bootstrapped mean best-of-K value, :func:`analysis.ranking.rankings_at`). A workload that no
  optimizer solved counts as a miss for all (AlgoPerf's convention) unless ``drop_unsolved``;
  a warning says which convention changed which scores;
- for a protocol that follows a ruleset (``ruleset:`` in its file), the ruleset's own score and
  its profile (:mod:`analysis.rulesets`: AlgoPerf's median over studies of each study's best
  steps to the target);
- standings: each optimizer's mean rank over the workloads it ran and its wins (workloads where
  it ranks first). The rank on a workload is that of the ranking's means with ties shared,
  1 + #{optimizers with a strictly lower mean} (the ranking itself breaks ties by name), so
  optimizers tied for first both win.

:func:`summarize_workloads` is pure (rankings, speed rankings and verdicts in, a frozen
:class:`CrossWorkloadSummary` out); :func:`summarize_experiments` loads one or several
experiment directories and computes them the way the report does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from optcompare.errors import InputError, ParameterError
from optcompare.searches import Search, SearchKey, group_searches

from .ask_order import adaptive_protocols, ask_order_warnings
from .checks import check_budgets, check_metric, check_resamples
from .inclusion import InclusionPair, InclusionVerdict, inclusion_pairs, summarize_hierarchy
from .load import Experiment, load_results
from .profiles import TAU_MAX, PerformanceProfile, check_points, check_tau_max, performance_profile
from .ranking import Ranking, bootstrap_searches, budget_warnings, default_budget, rankings_at
from .rulesets import RulesetResult, protocol_rulesets, ruleset_results
from .selection import selection
from .speed import SpeedRanking, speed_rankings
from .stages import select_stage
from .studies import default_study_budget, study_count

__all__ = [
    "STEPS_TO_TARGET",
    "CrossWorkloadSummary",
    "ProtocolSummary",
    "Standing",
    "VerdictRow",
    "VerdictTable",
    "standings",
    "summarize_experiments",
    "summarize_workloads",
    "verdict_table",
]

STEPS_TO_TARGET = "steps_to_target"
"""The quantity name of the speed profile (the other profile is named by the reported metric)."""


@dataclass(frozen=True)
class Standing:
    """One optimizer under one protocol: the workloads it ran, its mean rank there and its wins."""

    optimizer: str
    n_workloads: int
    mean_rank: float
    wins: int


@dataclass(frozen=True)
class ProtocolSummary:
    """One protocol over its workloads: standings (best mean rank first) and the two profiles
    (steps to target, then the reported metric)."""

    protocol: str
    workloads: tuple[str, ...]
    standings: tuple[Standing, ...]
    profiles: tuple[PerformanceProfile, ...]
    ruleset: RulesetResult | None = None
    """The protocol's ruleset score (:mod:`analysis.rulesets`), when its file names a ruleset."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "workloads": list(self.workloads),
            "standings": [vars(s).copy() for s in self.standings],
            "profiles": [p.as_dict() for p in self.profiles],
            "ruleset": None if self.ruleset is None else self.ruleset.as_dict(),
        }


@dataclass(frozen=True)
class VerdictRow:
    """The verdicts on ``narrow <= wide`` in one workload, one per protocol of the table (None:
    not checked there, one of the two did not run)."""

    workload: str
    narrow: str
    wide: str
    via: tuple[str, ...]
    verdicts: tuple[str | None, ...]


@dataclass(frozen=True)
class VerdictTable:
    """Rows workload x pair, columns ``protocols`` (sorted)."""

    protocols: tuple[str, ...]
    rows: tuple[VerdictRow, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocols": list(self.protocols),
            "rows": [
                {
                    "workload": r.workload,
                    "narrow": r.narrow,
                    "wide": r.wide,
                    "via": list(r.via),
                    "verdicts": dict(zip(self.protocols, r.verdicts, strict=True)),
                }
                for r in self.rows
            ],
        }


@dataclass(frozen=True)
class CrossWorkloadSummary:
    """The summary over workloads at budget K, with the settings that made it (module doc)."""

    budget: int
    select: str | Mapping[str, str]
    report: str
    n_resamples: int
    tau_max: float
    workloads: tuple[str, ...]
    protocols: tuple[ProtocolSummary, ...]
    verdicts: VerdictTable
    warnings: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    drop_unsolved: bool = False
    points: int | None = None

    @property
    def convention(self) -> str:
        """``"algoperf"`` (unsolved workloads stay in W) or ``"drop-unsolved"``."""
        return "drop-unsolved" if self.drop_unsolved else "algoperf"

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``optcompare summary`` (docs/usage.md, "Analysis")."""
        return {
            "budget": self.budget,
            "select": self.select if isinstance(self.select, str) else dict(self.select),
            "report": self.report,
            "n_resamples": self.n_resamples,
            "tau_max": self.tau_max,
            "convention": self.convention,
            "points": self.points,
            "workloads": list(self.workloads),
            "protocols": [p.as_dict() for p in self.protocols],
            "inclusion_verdicts": self.verdicts.as_dict(),
        }


def _shared_ranks(ranking: Ranking) -> dict[str, int]:
    """Optimizer -> 1 + the number of optimizers with a strictly lower mean (NaN as +inf)."""
    means = {o.optimizer: math.inf if math.isnan(o.mean) else o.mean for o in ranking.optimizers}
    return {s: 1 + sum(m < v for m in means.values()) for s, v in means.items()}


def standings(rankings: Sequence[Ranking]) -> list[Standing]:
    """Mean rank and wins of each optimizer over ``rankings`` (one protocol's, one per
    workload), best mean rank first, then more wins, then by name (module doc)."""
    ranks: dict[str, list[int]] = {}
    for ranking in rankings:
        for s, r in _shared_ranks(ranking).items():
            ranks.setdefault(s, []).append(r)
    rows = [Standing(s, len(r), sum(r) / len(r), r.count(1)) for s, r in ranks.items()]
    return sorted(rows, key=lambda s: (s.mean_rank, -s.wins, s.optimizer))


def verdict_table(verdicts: Sequence[InclusionVerdict]) -> VerdictTable:
    """The verdicts of every workload and pair, one column per protocol."""
    protocols = tuple(sorted({v.protocol for v in verdicts}))
    cells: dict[tuple[str, str, str], dict[str, str]] = {}
    via: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for v in verdicts:
        key = (v.workload, v.narrow, v.wide)
        cells.setdefault(key, {})[v.protocol] = v.verdict
        via.setdefault(key, v.via)
    rows = tuple(
        VerdictRow(*key, via[key], tuple(cells[key].get(p) for p in protocols))
        for key in sorted(cells)
    )
    return VerdictTable(protocols, rows)


def _values(
    rows: Sequence[Ranking] | Sequence[SpeedRanking], value: Callable[[Any], float]
) -> dict[str, dict[str, float]]:
    """Workload -> optimizer -> ``value(score)`` of one protocol's rankings."""
    return {r.workload: {o.optimizer: value(o) for o in r.optimizers} for r in rows}


def _convention_warning(profile: PerformanceProfile) -> list[str]:
    """What the profile's convention did with unsolved workloads, if it had any."""
    sentence = profile.convention_sentence
    return [f"{profile.protocol}, {sentence}"] if sentence else []


def summarize_workloads(
    rankings: Sequence[Ranking],
    speed: Sequence[SpeedRanking],
    verdicts: Sequence[InclusionVerdict],
    *,
    budget: int,
    select: str | Mapping[str, str],
    report: str,
    n_resamples: int,
    tau_max: float = TAU_MAX,
    drop_unsolved: bool = False,
    points: int | None = None,
    rulesets: Sequence[RulesetResult] = (),
) -> CrossWorkloadSummary:
    """The summary of rankings, speed rankings and verdicts taken at ``budget`` (module doc),
    with each ruleset protocol's score (``rulesets``, :func:`analysis.rulesets.ruleset_results`);
    the other settings are recorded. Warns when it covers fewer than two workloads and when a
    profile has a workload that no optimizer solved (saying what the convention did)."""
    tau_max = check_tau_max(tau_max)
    points = check_points(points)

    workloads = tuple(sorted({r.workload for r in rankings}))
    warnings: list[str] = []
    if len(workloads) < 2:
        warnings.append(
            f"the summary covers {len(workloads)} workload ({', '.join(workloads) or 'none'}); "
            "profiles, mean ranks and wins over workloads need several to mean much"
        )
    protocols = []
    by_protocol = {r.protocol: r for r in rulesets}
    for result in rulesets:  # its budget warnings are the caller's (they hold with one workload too)
        warnings.extend(_convention_warning(result.profile))
    for p in sorted({r.protocol for r in rankings}):
        mine = [r for r in rankings if r.protocol == p]
        profiles = (
            performance_profile(
                _values([s for s in speed if s.protocol == p], lambda o: o.median),
                protocol=p,
                quantity=STEPS_TO_TARGET,
                tau_max=tau_max, drop_unsolved=drop_unsolved, points=points,
            ),
            performance_profile(
                _values(mine, lambda o: o.mean), protocol=p, quantity=report,
                tau_max=tau_max, drop_unsolved=drop_unsolved, points=points,
            ),
        )
        for profile in profiles:
            warnings.extend(_convention_warning(profile))
        protocols.append(
            ProtocolSummary(
                p, tuple(sorted(r.workload for r in mine)), tuple(standings(mine)), profiles,
                by_protocol.get(p),
            )
        )
    return CrossWorkloadSummary(
        budget,
        select,
        report,
        n_resamples,
        tau_max,
        workloads,
        tuple(protocols),
        verdict_table(verdicts),
        tuple(warnings),
        drop_unsolved=drop_unsolved,
        points=points,
    )


def _merged_searches(experiments: Sequence[Experiment]) -> dict[SearchKey, Search]:
    """Every experiment's searches; InputError when one has none or two hold the same search
    (their trial ids would collide)."""
    searches: dict[SearchKey, Search] = {}
    owner: dict[SearchKey, str] = {}
    for exp in experiments:
        found = group_searches(exp.trials)
        if not found:
            raise InputError(
                f"{exp.path} has no search trials yet; run or resume it first, or leave it out"
            )
        for key, search in found.items():
            if key in owner:
                raise InputError(
                    f"search {'/'.join(key)} is in both {owner[key]} and {exp.path}; summarise "
                    "experiments that share no (workload, protocol, optimizer), or rename a "
                    "protocol"
                )
            owner[key] = exp.path
            searches[key] = search
    return searches


def _merged_selection(
    experiments: Sequence[Experiment], select: str | None
) -> str | dict[str, str]:
    """``select``, else protocol -> the selection every experiment records for it;
    ParameterError when two experiments select one protocol's trials differently."""
    if select is not None:
        return select
    merged: dict[str, str] = {}
    source: dict[str, str] = {}
    for exp in experiments:
        recorded = selection(exp.meta)
        for p, metric in recorded.items() if isinstance(recorded, Mapping) else ():
            if merged.setdefault(p, metric) != metric:
                raise ParameterError(
                    "select",
                    f"protocol {p} selects by {merged[p]} in {source[p]} but by {metric} in "
                    f"{exp.path}; give {{name}} to select every protocol by one metric",
                )
            source.setdefault(p, exp.path)
    return merged


def _default_budget(experiments: Sequence[Experiment], searches: Mapping[SearchKey, Search]) -> int:
    """The report's default budget (:func:`analysis.report_data.analyse`) of each experiment,
    the smallest of them: the smallest search, or for an experiment with several studies the
    smallest search of one study (so that every study ran K trials; its pooled searches are
    larger, so they never set the minimum)."""
    per_study = [
        default_study_budget(exp.trials) for exp in experiments if study_count(exp.meta, exp.trials) > 1
    ]
    return min([default_budget(searches), *(b for b in per_study if b)])


def summarize_experiments(
    experiments: str | Sequence[str],
    budget: int | None = None,
    *,
    select: str | None = None,
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
    tau_max: float = TAU_MAX,
    alpha: float = 0.05,
    stage: str = "final",
    drop_unsolved: bool = False,
    points: int | None = None,
) -> CrossWorkloadSummary:
    """The summary of one or several experiment directories at ``budget`` (default: the
    report's, the smallest of all experiments: see :func:`_default_budget`), with the rankings, speed rankings and inclusion verdicts computed
    as :func:`analysis.report.analyse` computes them (same bootstrap seeds, so the numbers are
    the report's). ``select`` None uses each protocol's ``select`` from experiment.json.

    Experiments are read one by one (trials only), reduced to the stage selection ``stage``
    (:func:`analysis.stages.select_stage`; each experiment must know the stage) and their
    searches united; two holding the same (workload, protocol, optimizer) are refused rather
    than pooled.
    """
    check_metric(report, "report")
    if select is not None:
        check_metric(select, "select")
    check_resamples(n_resamples)
    tau_max = check_tau_max(tau_max)
    check_points(points)
    if budget is not None:
        check_budgets([budget])
    paths = [experiments] if isinstance(experiments, str) else list(experiments)
    if not paths:
        raise InputError("no experiment given; pass at least one RESULTS/NAME directory")
    loaded = [select_stage(load_results(p, curves=False), stage) for p in paths]
    searches = _merged_searches(loaded)
    budget = _default_budget(loaded, searches) if budget is None else int(budget)
    chosen = _merged_selection(loaded, select)
    meta = {"workloads": [w for exp in loaded for w in exp.meta.get("workloads", []) or []]}
    pairs: list[InclusionPair] = [p for exp in loaded for p in inclusion_pairs(exp.meta)]
    adaptive = frozenset().union(*(adaptive_protocols(exp.meta) for exp in loaded))
    curves = bootstrap_searches(
        searches, [budget], select=chosen, report=report, n_resamples=n_resamples, seed=seed,
        adaptive=adaptive,
    )
    rankings = rankings_at(curves, searches, budget)
    hierarchy = summarize_hierarchy(curves, rankings, budget, pairs, alpha=alpha)
    speed = speed_rankings(searches, budget, meta=meta, n_resamples=n_resamples, seed=seed)
    rulesets = ruleset_results(
        searches, {p: r for exp in loaded for p, r in protocol_rulesets(exp.meta).items()},
        tau_max=tau_max, drop_unsolved=drop_unsolved, points=points,
    )
    summary = summarize_workloads(
        rankings,
        speed,
        hierarchy.verdicts,
        budget=budget,
        select=chosen,
        report=report,
        n_resamples=n_resamples,
        tau_max=tau_max,
        drop_unsolved=drop_unsolved,
        points=points,
        rulesets=rulesets,
    )
    return replace(
        summary,
        warnings=(*budget_warnings(searches, [budget]), *ask_order_warnings(searches, adaptive),
                  *(w for r in rulesets for w in r.warnings), *summary.warnings),
        skipped=tuple(s for exp in loaded for s in exp.skipped),
    )
