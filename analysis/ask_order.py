"""Budget curves in ask order: what an adaptive search found after its first K trials.

The best-of-K bootstrap (:mod:`analysis.bootstrap`) draws K trials of a search with
replacement: it assumes the trials are exchangeable, which holds for planned (quasi-random,
grid) searches, whose points do not depend on earlier results, and for Optuna's ``random``
and ``qmc`` samplers (:func:`optcompare.schema.is_exchangeable`). An adaptive search (a
protocol whose ``search:`` names a sampler that learns, e.g. TPE) asks for each point after
seeing the earlier ones, so its K-th trial is not a draw from the same distribution
as its first: resampling its trials would credit a K-trial search with points only a longer
search could ask for. Its budget curve is instead the best of its first K trials in ask order
(``trial_index``), per study, and the spread is that across repeated independent studies
(``studies: S``, the ``study`` column), which are exchangeable.

Definition. For study s of a search, with trials t_1, t_2, ... in ``trial_index`` order and
V_s(K) the valid trials (completed, finite selection value) among t_1 .. t_min(K, n_s),

    r_s(K) = report[argmin_{t in V_s(K)} (select[t], index of t)]   if V_s(K) is not empty,
             worst                                                otherwise,

(a study with fewer than K trials counts with all n_s of them; ``worst`` is 1.0 for errors,
+inf for losses). :func:`ask_order_curve` resamples studies: sample b is r_{j_b}(K) with j_b
uniform on the S studies (on the search's own generator), so its mean and 5th / 95th
percentiles are those of the studies' values and the rankings' paired rank probabilities are
probabilities over studies; with S = 1 every sample is that one study's value (no band).
:func:`compare_samplers` shows, per (workload, optimizer), every protocol the same way
(quasi-random ones too: best of the first K in ``trial_index`` order per study) with the median
over studies and the min-max band, so that samplers are compared like for like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcompare.schema import FIRST_STUDY, METRICS, PLANNED_SEARCHES, SearchKey, is_exchangeable
from optcompare.searches import Search

from .bootstrap import BudgetCurve, _selection_order
from .checks import check_budgets
from .load import recorded_protocols
from .selection import select_for

__all__ = [
    "DEFAULT_SEARCH",
    "AskOrderCurve",
    "SamplerComparison",
    "adaptive_protocols",
    "ask_order_curve",
    "ask_order_values",
    "ask_order_warnings",
    "best_of_first_k",
    "compare_samplers",
    "protocol_searches",
    "study_rows",
]

DEFAULT_SEARCH = PLANNED_SEARCHES[0]
"""The search kind of a protocol experiment.json does not describe: quasi-random."""


def protocol_searches(meta: Mapping[str, Any]) -> dict[str, str]:
    """Protocol -> its ``search:`` (experiment.json ``protocols[P]["search"]``, one experiment's
    or several merged, :func:`analysis.load.recorded_protocols`). Protocols without a record are
    left out (they read as :data:`DEFAULT_SEARCH`)."""
    return {
        p: str(raw["search"]) for p, raw in recorded_protocols(meta).items() if isinstance(raw.get("search"), str)
    }


def adaptive_protocols(meta: Mapping[str, Any]) -> frozenset[str]:
    """The protocols whose trials are not exchangeable (an Optuna sampler that learns from the
    trials told, :func:`optcompare.schema.is_exchangeable`; module doc). Optuna's ``random`` and
    ``qmc`` samplers are asked by the driver too, but their points ignore the results: their
    trials are bootstrapped like quasi-random ones."""
    return frozenset(p for p, s in protocol_searches(meta).items() if not is_exchangeable(s))


def study_rows(search: Search) -> dict[int, np.ndarray]:
    """Study -> the row indices of its trials in ``trial_index`` order (a search's rows are
    already in that order, :func:`optcompare.searches.group_searches`), studies ascending; a null
    ``study`` reads as study 0."""
    study = np.nan_to_num(search.column("study"), nan=FIRST_STUDY).astype(np.int64)
    return {int(s): np.flatnonzero(study == s) for s in np.unique(study)}


def best_of_first_k(
    select: np.ndarray, report: np.ndarray, valid: np.ndarray, budgets: Sequence[int] | np.ndarray, worst: float
) -> np.ndarray:
    """r(K) of one study (module doc) at each of ``budgets``: the ``report`` of the best valid
    trial among the first min(K, n) by ``select`` (ties: the earlier trial), ``worst`` when
    none of them is valid."""
    valid = np.asarray(valid, dtype=bool) & np.isfinite(select)
    order = _selection_order(select, valid)
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))
    value_at_rank = np.where(valid[order], report[order], worst)
    best_rank = np.minimum.accumulate(rank_of)
    at = np.minimum(np.asarray(budgets, dtype=np.int64), len(order)) - 1
    return value_at_rank[best_rank[at]]


def ask_order_values(
    search: Search, budgets: Sequence[int] | np.ndarray, select: str, report: str
) -> tuple[tuple[int, ...], np.ndarray]:
    """(studies, values): ``values[i, j]`` is r_s(K) of study ``studies[j]`` at ``budgets[i]``
    (module doc), selecting by metric ``select`` and reporting metric ``report``."""
    chosen, reported = METRICS[select], METRICS[report]
    sel, rep, valid = search.column(chosen.column), search.column(reported.column), search.completed
    rows = study_rows(search)
    values = np.stack(
        [best_of_first_k(sel[r], rep[r], valid[r], budgets, reported.worst) for r in rows.values()],
        axis=1,
    )
    return tuple(rows), values


def ask_order_curve(
    search: Search,
    budgets: Sequence[int],
    *,
    select: str,
    report: str,
    n_resamples: int,
    rng: np.random.Generator,
    percentile_method: str = "linear",
) -> BudgetCurve:
    """The budget curve of an adaptive search: r_{j_b}(K) for ``n_resamples`` studies j_b drawn
    uniformly with replacement (module doc), in the :class:`~analysis.bootstrap.BudgetCurve` the
    rankings read, so that adaptive and planned searches share the ranking code."""
    ks = np.asarray(check_budgets(budgets, "budgets"))
    _, values = ask_order_values(search, ks, select, report)
    samples = values[:, rng.integers(0, values.shape[1], size=n_resamples)]
    return BudgetCurve.of_samples(ks, samples, percentile_method)


def ask_order_warnings(
    searches: Mapping[SearchKey, Search], adaptive: frozenset[str] | set[str]
) -> list[str]:
    """One note per adaptive protocol among ``searches``: its curves are taken in ask order per
    study and resampled over studies (and, with one study, have no band)."""
    notes = []
    for protocol in sorted({k.protocol for k in searches} & set(adaptive)):
        counts = sorted({len(study_rows(s)) for k, s in searches.items() if k.protocol == protocol})
        studies = "/".join(map(str, counts))
        single = "; with one study there is no band (run studies: S >= 2)" if counts == [1] else ""
        notes.append(
            f"protocol {protocol} searches adaptively: its trials are not exchangeable, so its "
            f"best-of-K is the best of the first K trials in ask order in each of its {studies} "
            f"studies, resampled over studies rather than over trials{single}"
        )
    return notes


@dataclass(frozen=True, eq=False)
class AskOrderCurve:
    """One search's best-so-far in ask order: ``values[i, j]`` is r_s(``budgets[i]``) of study
    ``studies[j]``; ``median``, ``low`` (min) and ``high`` (max) are over studies."""

    workload: str
    protocol: str
    optimizer: str
    search: str
    """The protocol's ``search:`` (e.g. ``quasirandom``, ``tpe``)."""
    budgets: np.ndarray
    studies: tuple[int, ...]
    values: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_trials: int
    """The smallest study's number of trials: the largest budget every study ran."""

    def at(self, budget: int) -> tuple[float, float, float]:
        """(median, min, max) at ``budget`` (one of :attr:`budgets`)."""
        i = int(np.flatnonzero(self.budgets == budget)[0])
        return float(self.median[i]), float(self.low[i]), float(self.high[i])


@dataclass(frozen=True, eq=False)
class SamplerComparison:
    """The protocols of one (workload, optimizer) that differ in ``search:``, at equal budgets."""

    workload: str
    optimizer: str
    select: str
    report: str
    curves: tuple[AskOrderCurve, ...]
    """One per protocol, by protocol name."""
    budgets: tuple[int, ...]
    """Budgets of the page's table: powers of two up to the smallest study of any protocol."""


def _curve(key: SearchKey, search: Search, kind: str, select: str, report: str) -> AskOrderCurve:
    rows = study_rows(search)
    n = min(len(r) for r in rows.values())
    ks = np.arange(1, max(len(r) for r in rows.values()) + 1)
    studies, values = ask_order_values(search, ks, select, report)
    with np.errstate(invalid="ignore"):
        median = np.median(values, axis=1)
    return AskOrderCurve(*key, kind, ks, studies, values, median, values.min(axis=1),
                         values.max(axis=1), n)


def compare_samplers(
    searches: Mapping[SearchKey, Search],
    meta: Mapping[str, Any],
    *,
    select: str | Mapping[str, str],
    report: str,
) -> tuple[SamplerComparison, ...]:
    """Per (workload, optimizer) whose protocols use at least two different ``search:`` kinds,
    every protocol's :class:`AskOrderCurve` (module doc). The protocols must select by the same
    metric to be compared; a group whose protocols select differently is compared by the first
    protocol's metric."""
    kinds = protocol_searches(meta)
    groups: dict[tuple[str, str], list[SearchKey]] = {}
    for key in sorted(searches):
        groups.setdefault((key.workload, key.optimizer), []).append(key)
    out = []
    for (workload, optimizer), keys in groups.items():
        if len({kinds.get(k.protocol, DEFAULT_SEARCH) for k in keys}) < 2:
            continue
        metric = select_for(select, keys[0].protocol)
        curves = tuple(
            _curve(k, searches[k], kinds.get(k.protocol, DEFAULT_SEARCH), metric, report)
            for k in keys
        )
        top = min(c.n_trials for c in curves)
        budgets = tuple(2**i for i in range(int(np.log2(top)) + 1))
        out.append(SamplerComparison(workload, optimizer, metric, report, curves, budgets))
    return tuple(out)
