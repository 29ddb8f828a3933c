"""Optimizer rankings per (workload, protocol) at a search budget, from bootstrapped best trials.

Every search (workload, protocol, optimizer) is bootstrapped on its own generator
(:func:`optcompare.searches.search_rng`), so searches are resampled independently; resample ``b``
of one optimizer is paired with resample ``b`` of the others to estimate rank probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from optcompare import schema
from optcompare.errors import InputError, ParameterError, ParameterText
from optcompare.searches import Search, SearchKey, group_searches, search_rng

from .ask_order import ask_order_curve
from .bootstrap import BudgetCurve, best_of_k
from .checks import check_budgets, check_metric, check_resamples, check_select
from .selection import select_for

__all__ = [
    "MAX_BUDGET_FACTOR",
    "BudgetRankings",
    "OptimizerScore",
    "Ranking",
    "bootstrap_searches",
    "budget_warnings",
    "check_rank_arguments",
    "default_budget",
    "percentile_method_for",
    "rank_optimizers",
    "rank_optimizers_at",
    "rank_probabilities",
    "rank_searches",
    "rankings_at",
    "searches_of",
]

MAX_BUDGET_FACTOR = 100
"""A budget above this many times the largest search is refused (:func:`budget_warnings`)."""


def percentile_method_for(worst: float) -> str:
    """``np.percentile`` method for samples whose worst value is ``worst``: ``inverted_cdf``
    (order statistics) when it is infinite, since linear interpolation between a finite value
    and +inf gives inf - inf = NaN; ``linear`` otherwise."""
    return "inverted_cdf" if math.isinf(worst) else "linear"


@dataclass(frozen=True)
class OptimizerScore:
    """One optimizer's bootstrapped best-of-K reported metric in one (workload, protocol).

    ``rank_probabilities[r - 1]`` is the fraction of resamples in which the optimizer had rank
    ``r`` (see :func:`rank_probabilities`); it sums to 1.
    """

    optimizer: str
    rank: int
    n_trials: int
    mean: float
    p05: float
    p95: float
    rank_probabilities: tuple[float, ...] = ()


@dataclass(frozen=True)
class Ranking:
    """Optimizers of one (workload, protocol), best first (lowest mean; ties alphabetical)."""

    workload: str
    protocol: str
    optimizers: list[OptimizerScore]

    def as_dict(self) -> dict[str, Any]:
        """``{"workload", "protocol", "optimizers": [{"optimizer", "rank", "n_trials", "mean",
        "p05", "p95", "rank_probabilities": [...]}, ...]}``."""
        data = asdict(self)
        for o in data["optimizers"]:
            o["rank_probabilities"] = list(o["rank_probabilities"])
        return data


@dataclass(frozen=True)
class BudgetRankings:
    """The rankings of every (workload, protocol) at one budget, with the settings that made them."""

    budget: int
    select: str | Mapping[str, str]
    """One metric for every protocol, or protocol -> metric (the protocols' recorded ``select``)."""
    report: str
    n_resamples: int
    rankings: tuple[Ranking, ...]

    def select_of(self, protocol: str) -> str:
        """The metric that selected ``protocol``'s best trials (:func:`analysis.selection.select_for`)."""
        return select_for(self.select, protocol)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``optcompare rank`` for one budget (docs/usage.md, "Analysis"):
        ``{"budget", "select", "report", "n_resamples", "rankings": [Ranking.as_dict() with
        "select", ...]}``; the top-level ``select`` is a metric, or protocol -> metric when each
        protocol's recorded one was used."""
        return {
            "budget": self.budget,
            "select": self.select if isinstance(self.select, str) else dict(self.select),
            "report": self.report,
            "n_resamples": self.n_resamples,
            "rankings": [{**r.as_dict(), "select": self.select_of(r.protocol)} for r in self.rankings],
        }


def bootstrap_searches(
    searches: Mapping[SearchKey, Search],
    budgets: Sequence[int],
    *,
    select: str | Mapping[str, str] = "val_error",
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
    adaptive: Collection[str] = (),
) -> dict[SearchKey, BudgetCurve]:
    """:func:`best_of_k` for every search at every budget; for the searches of the protocols
    in ``adaptive`` (:func:`analysis.ask_order.adaptive_protocols`), whose trials are not
    exchangeable, the best of the first K trials in ask order per study, resampled over studies
    (:func:`analysis.ask_order.ask_order_curve`) instead of a bootstrap over trials.

    ``select`` is a metric name, or a mapping protocol -> metric name (protocols it lacks
    select by ``val_error``). A trial is valid when its status is ``completed`` and its
    selection value is finite. Loss metrics score +inf for a draw without a valid trial, so
    their percentiles are order statistics (:func:`percentile_method_for`).
    """
    check_select(select)
    reported = schema.METRICS[check_metric(report, "report")]
    method = percentile_method_for(reported.worst)
    out = {}
    for key, search in searches.items():
        selected = schema.METRICS[select_for(select, search.protocol)]
        if search.protocol in adaptive:
            out[key] = ask_order_curve(
                search, budgets, select=selected.name, report=reported.name,
                n_resamples=n_resamples, rng=search_rng(seed, key), percentile_method=method,
            )
            continue
        out[key] = best_of_k(
            search.column(selected.column),
            search.column(reported.column),
            search.completed,
            budgets,
            n_resamples=n_resamples,
            worst=reported.worst,
            rng=search_rng(seed, key),
            percentile_method=method,
        )
    return out


def rank_probabilities(samples: np.ndarray) -> np.ndarray:
    """P[i, r]: probability that optimizer ``i`` has rank ``r + 1`` (lower value = better rank).

    ``samples`` has shape (n_optimizers, n_resamples): row i holds optimizer i's bootstrapped
    values, and column b is one joint resample. In resample b, with ``less`` optimizers strictly
    better than i and ``tied`` optimizers equal to it (i included), i takes ranks
    ``less + 1 .. less + tied`` with probability ``1 / tied`` each. NaN counts as +inf.
    Rows and columns each sum to 1.
    """
    values = np.where(np.isnan(samples), np.inf, np.asarray(samples, dtype=float))
    n = values.shape[0]
    less = (values[None, :, :] < values[:, None, :]).sum(axis=1)  # (n, B): others better than i
    tied = (values[None, :, :] == values[:, None, :]).sum(axis=1)
    probs = np.empty((n, n))
    for r in range(n):
        holds = (less <= r) & (r < less + tied)
        probs[:, r] = np.mean(np.where(holds, 1.0 / tied, 0.0), axis=1)
    return probs


def rankings_at(
    curves: Mapping[SearchKey, BudgetCurve],
    searches: Mapping[SearchKey, Search],
    budget: int,
) -> list[Ranking]:
    """Rankings of each (workload, protocol) at ``budget`` (one of the curves' budgets)."""
    groups: dict[tuple[str, str], list[SearchKey]] = {}
    for key in sorted(curves):
        groups.setdefault(key[:2], []).append(key)
    rankings = []
    for (w, p), keys in groups.items():
        rows = []
        for key in keys:
            curve = curves[key]
            rows.append((key[2], curve.index_of(budget), curve))
        samples = np.stack([c.samples[i] for _, i, c in rows])
        probs = rank_probabilities(samples)
        scores = [
            (float(c.mean[i]), o, searches[key].n_trials, float(c.p05[i]), float(c.p95[i]), tuple(map(float, pr)))
            for (o, i, c), key, pr in zip(rows, keys, probs, strict=True)
        ]
        scores.sort(key=lambda s: (s[0], s[1]))
        rankings.append(
            Ranking(
                w,
                p,
                [
                    OptimizerScore(o, r + 1, n, mean, lo, hi, pr)
                    for r, (mean, o, n, lo, hi, pr) in enumerate(scores)
                ],
            )
        )
    return rankings


def default_budget(searches: Mapping[SearchKey, Search]) -> int:
    """The smallest number of trials of any search: every optimizer ran at least that many."""
    return min(s.n_trials for s in searches.values())


def budget_warnings(
    searches: Mapping[SearchKey, Search], budgets: Sequence[int], parameter: str = "budget"
) -> list[str]:
    """Warnings (:class:`~optcompare.errors.ParameterText` about ``parameter``) for budgets above
    the largest search; ParameterError for one above :data:`MAX_BUDGET_FACTOR` times it.

    A budget K > N draws trials of an N-trial search again and again: the estimate tends to the
    search's best trial, P(best found) = 1 - (1 - 1/N)^K, and says nothing about a K-trial search
    the experiment did not run. Far beyond N (K > 100 N) it only costs time and memory.
    """
    if not searches or not budgets:
        return []
    sizes = {"/".join(k): s.n_trials for k, s in searches.items()}
    largest = max(sizes.values())
    top = max(int(b) for b in budgets)
    if top > MAX_BUDGET_FACTOR * largest:
        raise ParameterError(
            parameter,
            f"{{name}} {top} is more than {MAX_BUDGET_FACTOR}x the largest search ({largest} trials); "
            f"give a budget of at most {MAX_BUDGET_FACTOR * largest}, ideally at most {largest}",
        )
    over = sorted({int(b) for b in budgets if b > largest})
    if not over:
        return []
    per_search = ", ".join(f"{k}: {n}" for k, n in sorted(sizes.items()))
    return [
        ParameterText(
            parameter,
            f"{{name}} {', '.join(map(str, over))} exceeds the largest search ({largest} trials; "
            f"N per search: {per_search}); draws repeat trials, so the estimate tends to each "
            "search's best trial",
        )
    ]


def rank_searches(
    searches: Mapping[SearchKey, Search],
    budgets: Sequence[int],
    select: str | Mapping[str, str],
    report: str,
    n_resamples: int,
    seed: int,
    adaptive: Collection[str] = (),
) -> dict[int, list[Ranking]]:
    curves = bootstrap_searches(
        searches, budgets, select=select, report=report, n_resamples=n_resamples, seed=seed,
        adaptive=adaptive,
    )
    return {b: rankings_at(curves, searches, b) for b in budgets}


def check_rank_arguments(
    budgets: Sequence[int] | None, select: str | None, report: str, n_resamples: int
) -> tuple[int, ...] | None:
    """The distinct budgets ascending (None or none given: the default), once every argument
    is checked."""
    if select is not None:
        check_select(select)
    check_metric(report, "report")
    check_resamples(n_resamples)
    return None if budgets is None or len(budgets) == 0 else check_budgets(budgets)


def searches_of(trials: pa.Table, experiment: str = "the experiment") -> dict[SearchKey, Search]:
    """The searches of a trials table; InputError when it has none."""
    if trials.num_rows == 0:
        raise InputError(f"{experiment} has no finished trials yet; run or resume it first")
    searches = group_searches(trials)
    if not searches:
        raise InputError(
            f"{experiment} has no search trials (only reruns or filtered rows); nothing to rank"
        )
    return searches


def rank_optimizers_at(
    trials: pa.Table,
    budgets: Sequence[int] | None = None,
    *,
    select: str = "val_error",
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[int, list[Ranking]]:
    """Rankings at each budget (ascending; default: the smallest search), from one bootstrap draw
    at the largest budget: the samples at K are those :func:`rank_optimizers` finds at K alone.
    A bare trials table does not say which protocols are adaptive, so every search is
    bootstrapped as a planned one; :func:`analysis.experiment_rankings.rank_experiment` reads experiment.json and ranks
    adaptive protocols in ask order (:mod:`analysis.ask_order`).

    Lower is better; ties keep alphabetical order.
    """
    chosen = check_rank_arguments(budgets, select, report, n_resamples)
    searches = searches_of(trials)
    return rank_searches(
        searches, chosen or (default_budget(searches),), select, report, n_resamples, seed
    )


def rank_optimizers(
    trials: pa.Table,
    *,
    budget: int | None = None,
    select: str = "val_error",
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[int, list[Ranking]]:
    """(budget used, rankings): optimizers of each (workload, protocol) by bootstrapped mean.

    ``budget`` defaults to the smallest number of trials of any search, so every optimizer is
    compared at a budget it actually ran. Lower is better; ties keep alphabetical order.
    """
    ((used, rankings),) = rank_optimizers_at(
        trials, None if budget is None else [budget], select=select, report=report,
        n_resamples=n_resamples, seed=seed,
    ).items()
    return used, rankings
