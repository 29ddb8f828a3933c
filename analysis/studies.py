"""Repeated studies: each study's ranking, the spread between studies and whether they agree.

An experiment with ``studies: S`` (experiment.json ``studies``; S = 1 when absent) ran S
independent searches per (workload, protocol, optimizer), each with its own quasi-random
(Halton) seed; every trials row carries its ``study`` (0 .. S-1). The searches stay keyed by
(workload, protocol, optimizer): the ranking of ``rank`` and of the report pools the S studies'
trials into one search per key (the *pooled* ranking). This module adds, at the same budget K:

- each study's ranking: :func:`analysis.ranking.rankings_at` on the rows of that study alone,
  with the same bootstrap seeds (so it equals ranking that study's rows as an experiment of its
  own);
- the study-to-study spread, per optimizer: with m_s the bootstrapped mean best-of-K reported
  metric of study s, the mean m = (1/S) sum_s m_s and the sample standard deviation
  sd = sqrt( sum_s (m_s - m)^2 / (S - 1) ) (NaN for one study);
- per (workload, protocol), whether the studies agree: the same rank-1 optimizer in every study
  and the same inclusion verdict (:mod:`analysis.inclusion`: holds / inconclusive / violated) on
  every checked pair in every study.

What the bootstrap assumes. Within one study the bootstrap treats a search's trials as
exchangeable draws from one search distribution (its space and protocol), which a quasi-random
search of one space satisfies. The pooled ranking resamples the S x N trials of a key as one
search: that is a K-trial search of the same distribution only if the studies are identical
procedures (same space, differently seeded). A staged protocol refines its final space from
each study's own initial stage, so its final spaces differ between studies and its pooled
final-stage trials are a *mixture* of S searches of different spaces (:attr:`StudyComparison.
mixtures` names those protocols); then read the per-study rankings, and the pooled one only as
an average over the refinement's outcomes. The study-to-study spread measures how much the
answer depends on the search's seed (and, for a staged protocol, on its refinement), which the
within-study bootstrap bands cannot show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optcompare.errors import ParameterText
from optcompare.searches import Search, SearchKey, group_searches

from .ask_order import adaptive_protocols
from .inclusion import InclusionPair, summarize_hierarchy
from .load import with_stage_and_study
from .ranking import MAX_BUDGET_FACTOR, Ranking, bootstrap_searches, budget_warnings, rankings_at
from .stages import stage_names

__all__ = [
    "StudiesAtBudget",
    "StudyAgreement",
    "StudyComparison",
    "StudySpread",
    "compare_studies",
    "default_study_budget",
    "mixture_protocols",
    "searches_by_study",
    "study_count",
]


@dataclass(frozen=True)
class StudySpread:
    """One optimizer of one (workload, protocol): its bootstrapped mean best-of-K metric in each
    study (``means``, study order), their mean and sample standard deviation (module doc)."""

    workload: str
    protocol: str
    optimizer: str
    means: tuple[float, ...]
    mean: float
    sd: float


@dataclass(frozen=True)
class StudyAgreement:
    """Whether the studies of one (workload, protocol) agree: each study's rank-1 optimizer
    (``winners``, study order) and its verdict on each checked pair (``verdicts``: pair
    ``narrow <= wide`` -> one verdict per study, None where the pair was not checked there)."""

    workload: str
    protocol: str
    winners: tuple[str, ...]
    verdicts: tuple[tuple[str, tuple[str | None, ...]], ...]

    @property
    def same_winner(self) -> bool:
        return len(set(self.winners)) == 1

    @property
    def same_verdicts(self) -> bool:
        return all(len(set(per_study)) == 1 for _, per_study in self.verdicts)

    @property
    def agree(self) -> bool:
        """The same winner and the same verdicts in every study."""
        return self.same_winner and self.same_verdicts

    @property
    def differences(self) -> tuple[str, ...]:
        """What differs between studies, one phrase each (empty when they agree)."""
        out = []
        if not self.same_winner:
            out.append("rank 1: " + ", ".join(self.winners))
        out += [
            f"{pair}: " + ", ".join(v or "-" for v in per_study)
            for pair, per_study in self.verdicts
            if len(set(per_study)) > 1
        ]
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "protocol": self.protocol,
            "winners": list(self.winners),
            "verdicts": {pair: list(v) for pair, v in self.verdicts},
            "same_winner": self.same_winner,
            "same_verdicts": self.same_verdicts,
            "agree": self.agree,
        }


@dataclass(frozen=True)
class StudiesAtBudget:
    """Every study's rankings at one budget, the spread between studies and their agreement."""

    budget: int
    studies: tuple[int, ...]
    rankings: tuple[tuple[int, tuple[Ranking, ...]], ...]
    """(study, its rankings of every (workload, protocol)), study order."""
    spread: tuple[StudySpread, ...]
    agreement: tuple[StudyAgreement, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "studies": [
                {"study": s, "rankings": [r.as_dict() for r in rankings]}
                for s, rankings in self.rankings
            ],
            "spread": [
                {**vars(s), "means": list(s.means)} for s in self.spread
            ],
            "agreement": [a.as_dict() for a in self.agreement],
        }


@dataclass(frozen=True)
class StudyComparison:
    """The repeated-studies analysis at each budget (ascending), and the protocols whose pooled
    trials mix searches of different spaces (module doc)."""

    by_budget: tuple[StudiesAtBudget, ...]
    mixtures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    """Budgets above a study's largest search (:func:`analysis.ranking.budget_warnings` of
    each study's searches, prefixed by the study)."""

    @property
    def studies(self) -> tuple[int, ...]:
        return self.by_budget[0].studies if self.by_budget else ()


def study_count(meta: Mapping[str, Any], trials: pa.Table | None = None) -> int:
    """S: experiment.json ``studies`` (1 when absent), or more when the rows hold more studies."""
    recorded = meta.get("studies")
    count = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else 1
    if trials is not None and trials.num_rows:
        count = max(count, len(pc.unique(with_stage_and_study(trials).column("study"))))
    return max(count, 1)


def searches_by_study(trials: pa.Table) -> dict[int, dict[SearchKey, Search]]:
    """Study -> its searches (:func:`optcompare.searches.group_searches` on that study's rows),
    studies ascending; studies without search trials are left out."""
    trials = with_stage_and_study(trials)
    out = {}
    for study in sorted(int(s) for s in pc.unique(trials.column("study")).to_pylist()):
        found = group_searches(trials.filter(pc.equal(trials.column("study"), study)))
        if found:
            out[study] = found
    return out


def mixture_protocols(meta: Mapping[str, Any], protocols: Sequence[str], stage: str, n_studies: int) -> tuple[str, ...]:
    """Protocols whose pooled rows under selection ``stage`` mix differently refined spaces:
    with two or more studies, staged protocols unless only their first stage is selected."""
    if n_studies < 2:
        return ()
    names = stage_names(meta, protocols)
    return tuple(
        sorted(p for p in protocols if len(names[p]) > 1 and stage not in ("initial", names[p][0]))
    )


def _spread(by_study: Mapping[int, Sequence[Ranking]]) -> list[StudySpread]:
    means: dict[tuple[str, str, str], dict[int, float]] = {}
    for study, rankings in by_study.items():
        for r in rankings:
            for o in r.optimizers:
                means.setdefault((r.workload, r.protocol, o.optimizer), {})[study] = o.mean
    out = []
    for key in sorted(means):
        values = tuple(means[key].get(s, math.nan) for s in by_study)
        finite = np.asarray(values, dtype=float)
        mean = float(np.mean(finite))
        sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
        out.append(StudySpread(*key, values, mean, sd))
    return out


def _agreement(
    by_study: Mapping[int, Sequence[Ranking]], verdicts: Mapping[int, Mapping[tuple[str, str, str], str]]
) -> list[StudyAgreement]:
    groups = sorted({(r.workload, r.protocol) for rankings in by_study.values() for r in rankings})
    out = []
    for w, p in groups:
        winners = []
        for rankings in by_study.values():
            mine = next((r for r in rankings if (r.workload, r.protocol) == (w, p)), None)
            winners.append(mine.optimizers[0].optimizer if mine and mine.optimizers else "-")
        pairs = sorted({pair for v in verdicts.values() for (wk, pk, pair) in v if (wk, pk) == (w, p)})
        cells = tuple(
            (pair, tuple(verdicts[s].get((w, p, pair)) for s in by_study)) for pair in pairs
        )
        out.append(StudyAgreement(w, p, tuple(winners), cells))
    return out


def compare_studies(
    trials: pa.Table,
    budgets: Sequence[int],
    pairs: Sequence[InclusionPair],
    *,
    select: str | Mapping[str, str] = "val_error",
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    meta: Mapping[str, Any] | None = None,
    stage: str = "final",
) -> StudyComparison | None:
    """Per-study rankings, spread and agreement at each of ``budgets`` (module doc); None when
    the rows hold fewer than two studies. ``trials`` are the rows the analysis uses (one stage
    selection already applied); ``meta`` names the adaptive protocols (ranked in ask order,
    :mod:`analysis.ask_order`) and, with ``stage``, the mixtures."""
    by_study_searches = searches_by_study(trials)
    if len(by_study_searches) < 2:
        return None
    budgets = tuple(sorted(set(budgets)))
    adaptive = adaptive_protocols(meta or {})
    warnings = [
        ParameterText(text.parameter, f"study {study}: {text.template}")
        for study, searches in by_study_searches.items()
        for text in _warnings_below_refusal(searches, budgets)
    ]
    per_budget_rankings: dict[int, dict[int, list[Ranking]]] = {b: {} for b in budgets}
    per_budget_verdicts: dict[int, dict[int, dict[tuple[str, str, str], str]]] = {b: {} for b in budgets}
    for study, searches in by_study_searches.items():
        curves = bootstrap_searches(
            searches, budgets, select=select, report=report, n_resamples=n_resamples, seed=seed,
            adaptive=adaptive,
        )
        for b in budgets:
            rankings = rankings_at(curves, searches, b)
            hierarchy = summarize_hierarchy(curves, rankings, b, pairs, alpha=alpha)
            per_budget_rankings[b][study] = rankings
            per_budget_verdicts[b][study] = {
                (v.workload, v.protocol, f"{v.narrow} <= {v.wide}"): v.verdict for v in hierarchy.verdicts
            }
    studies = tuple(by_study_searches)
    protocols = sorted({k.protocol for s in by_study_searches.values() for k in s})
    return StudyComparison(
        tuple(
            StudiesAtBudget(
                b,
                studies,
                tuple((s, tuple(per_budget_rankings[b][s])) for s in studies),
                tuple(_spread(per_budget_rankings[b])),
                tuple(_agreement(per_budget_rankings[b], per_budget_verdicts[b])),
            )
            for b in budgets
        ),
        mixture_protocols(meta or {}, protocols, stage, len(studies)),
        tuple(warnings),
    )


def _warnings_below_refusal(
    searches: Mapping[SearchKey, Search], budgets: Sequence[int]
) -> list[ParameterText]:
    """:func:`budget_warnings` of one study; a budget the pooled searches allow is never refused
    here, only warned about."""
    largest = max(s.n_trials for s in searches.values())
    capped = [min(int(b), MAX_BUDGET_FACTOR * largest) for b in budgets]
    return [w for w in budget_warnings(searches, capped) if isinstance(w, ParameterText)]


def default_study_budget(trials: pa.Table) -> int | None:
    """The smallest search of any single study (None without search trials): the default
    budget when an experiment has several studies, so every study ran K trials."""
    sizes = [s.n_trials for searches in searches_by_study(trials).values() for s in searches.values()]
    return min(sizes) if sizes else None

