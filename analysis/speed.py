"""Training speed (steps to reach the target) and the robustness of the optimizer ordering to
the target and the step budget (docs/method.md).

Steps to target. A trial's value is its ``steps_to_target`` column: the first evaluated step
whose target metric (the workload's ``target_metric``: validation error, or validation loss for
language models) is at or below the workload's target. Null (never reached), and any
trial that is not ``completed`` (a diverged trial that reached the target before diverging
included), counts as +inf; the robustness checks below apply the same rule to steps recomputed
from the curves. The bootstrap is that of
:func:`analysis.bootstrap.best_of_k` with the steps as both the selection and the reported
metric: a K-trial search is scored by its fastest trial, and +inf when none of its K draws
reached the target. Since values can be infinite, percentiles are order statistics
(``inverted_cdf``) and the mean is +inf as soon as one resample never reached the target;
optimizers are therefore ordered by the bootstrapped median, then the mean, then the name.
Ranks follow the median alone, with ties ranked alike by the lowest rank they share
("competition" ranking: medians 20, 20, 40 get ranks 1, 1, 3; two searches that never reach the
target share a rank).

Robustness. From the curves, the ordering is recomputed (a) at shorter step budgets S: each
trial is scored by its last evaluation at or before S (:func:`analysis.curves.metrics_at_step`),
then the best-of-K bootstrap ranks the optimizers as ``rank`` does; and (b) at several targets:
steps to target recomputed from the curves (:func:`analysis.curves.steps_to_target`). Each
ordering is compared with the reference (full budget; nominal target) by Goodman and Kruskal's
gamma (:func:`goodman_kruskal_gamma`), not Kendall's tau: gamma leaves tied pairs out, so
optimizers that tie at one setting neither raise nor lower the agreement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcompare.schema import CURVE_METRICS, METRICS, TARGET_METRICS
from optcompare.searches import Search, SearchKey, search_rng

from .bootstrap import BudgetCurve, best_of_k
from .checks import check_metric
from .curves import SearchCurves, metrics_at_step, steps_to_target
from .ranking import percentile_method_for
from .selection import select_for

__all__ = [
    "OrderingCheck",
    "Robustness",
    "SpeedRanking",
    "SpeedScore",
    "bootstrap_steps",
    "completed_steps",
    "goodman_kruskal_gamma",
    "ordering_robustness",
    "speed_rankings",
    "robustness_targets",
    "workload_targets",
]


@dataclass(frozen=True)
class SpeedScore:
    """One optimizer's bootstrapped steps to target at a budget (module doc).

    ``n_reached``: trials that reached the target; ``p_reached``: fraction of resamples whose
    best trial reached it. ``median``, ``p05``, ``p95`` may be +inf. ``rank`` is 1 + the number
    of optimizers with a strictly lower median (equal medians share a rank; module doc).
    """

    optimizer: str
    rank: int
    n_trials: int
    n_reached: int
    p_reached: float
    median: float
    mean: float
    p05: float
    p95: float


@dataclass(frozen=True)
class SpeedRanking:
    """Optimizers of one (workload, protocol) by steps to ``target`` (fastest first)."""

    workload: str
    protocol: str
    budget: int
    target: float | None
    optimizers: tuple[SpeedScore, ...]
    target_metric: str = TARGET_METRICS[0]
    """The metric the target is on (the workload's ``target_metric``: ``val_error`` or ``val_loss``)."""


def completed_steps(search: Search, steps: np.ndarray) -> np.ndarray:
    """``steps`` (one per trial of ``search``) where the trial completed and the value is
    finite; +inf elsewhere (module doc: only completed trials reach the target)."""
    return np.where(search.completed & np.isfinite(steps), steps, np.inf)


def _steps_column(search: Search) -> np.ndarray:
    return completed_steps(search, search.column("steps_to_target"))


def bootstrap_steps(
    steps: np.ndarray, budgets: Sequence[int], *, n_resamples: int = 1000, rng: np.random.Generator | int | None = 0
) -> BudgetCurve:
    """Best-of-K bootstrap of steps to target (+inf = never reached; module doc)."""
    steps = np.asarray(steps, dtype=float)
    return best_of_k(
        steps, steps, np.isfinite(steps), budgets, n_resamples=n_resamples, worst=math.inf,
        rng=rng, percentile_method="inverted_cdf",
    )


def _speed_scores(
    steps_by_key: Mapping[SearchKey, np.ndarray], budget: int, n_resamples: int, seed: int
) -> list[SpeedScore]:
    rows = []
    for key, steps in steps_by_key.items():
        curve = bootstrap_steps(steps, [budget], n_resamples=n_resamples, rng=search_rng(seed, key))
        samples = curve.samples[0]
        median = float(np.percentile(samples, 50, method="inverted_cdf"))
        rows.append((median, float(curve.mean[0]), key[2], len(steps), int(np.isfinite(steps).sum()),
                     float(np.isfinite(samples).mean()), float(curve.p05[0]), float(curve.p95[0])))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    medians = [r[0] for r in rows]
    return [
        SpeedScore(o, medians.index(median) + 1, n, reached, p_reached, median, mean, lo, hi)
        for median, mean, o, n, reached, p_reached, lo, hi in rows
    ]


def _workload_record(meta: Mapping, workload: str) -> Mapping:
    for w in meta.get("workloads", []) or []:
        if isinstance(w, Mapping) and w.get("name") == workload:
            return w
    return {}


def workload_targets(meta: Mapping) -> dict[str, float]:
    """Workload -> numeric ``target_value`` of experiment.json ``workloads`` (others left out)."""
    return {
        w["name"]: float(w["target_value"])
        for w in meta.get("workloads", []) or []
        if isinstance(w, Mapping)
        and isinstance(w.get("target_value"), (int, float))
        and "name" in w
    }


def _target_of(meta: Mapping, workload: str) -> float | None:
    return workload_targets(meta).get(workload)


SPREAD_STEPS = (-2.0, -1.0, 0.0, 1.0, 2.0)
"""Robustness targets of a workload whose target was set by the rule (docs/method.md 9.3):
``target_value + k * target_spread`` for these k (the rule's level moved by up to two seed
standard deviations either way)."""


def robustness_targets(meta: Mapping, workload: str, factors: Sequence[float]) -> list[float]:
    """The default targets of the robustness check for ``workload``: with a recorded
    ``target_spread`` s, ``target_value + k s`` for k in :data:`SPREAD_STEPS` (non-positive ones
    left out), else ``factors`` times the target; [] without a target."""
    nominal = _target_of(meta, workload)
    if nominal is None:
        return []
    spread = _workload_record(meta, workload).get("target_spread")
    if isinstance(spread, (int, float)) and not isinstance(spread, bool) and spread > 0:
        return sorted(t for k in SPREAD_STEPS if (t := nominal + k * float(spread)) > 0)
    return sorted(nominal * f for f in factors)


def _target_metric_of(meta: Mapping, workload: str) -> str:
    """The workload's ``target_metric`` as experiment.json records it (``val_error`` when it
    records none or one that is not a target metric)."""
    name = _workload_record(meta, workload).get("target_metric")
    return name if name in TARGET_METRICS else TARGET_METRICS[0]


def speed_rankings(
    searches: Mapping[SearchKey, Search],
    budget: int,
    *,
    meta: Mapping | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[SpeedRanking]:
    """Rankings by the ``steps_to_target`` column of the trials (targets from experiment.json
    ``workloads[].target_value``, shown for reference)."""
    groups: dict[tuple[str, str], dict[SearchKey, np.ndarray]] = {}
    for key in sorted(searches):
        groups.setdefault(key[:2], {})[key] = _steps_column(searches[key])
    return [
        SpeedRanking(
            w, p, budget, _target_of(meta or {}, w), tuple(_speed_scores(by_key, budget, n_resamples, seed)),
            _target_metric_of(meta or {}, w),
        )
        for (w, p), by_key in groups.items()
    ]


def goodman_kruskal_gamma(keys: Mapping[str, Any], reference: Mapping[str, Any]) -> float:
    """Goodman and Kruskal's gamma between two orderings given by sort keys (lower = better).

    Over the pairs {a, b} of names present in both, with x = ``keys`` and y = ``reference``,
    a pair is concordant when sign(x[a] - x[b]) = sign(y[a] - y[b]) != 0, discordant when the
    two signs are opposite, and left out when tied in either (a sign of 0). With C concordant
    and D discordant pairs,

        gamma = (C - D) / (C + D),   in [-1, 1];

    1.0 when C + D = 0 (no pair is comparable; ties carry no evidence of a different order).
    Kendall's tau-b would be (C - D) / sqrt((P - T_x)(P - T_y)), with P all pairs and T_x, T_y
    those tied in x and in y: a pair tied in one ordering only still counts in its denominator.
    """
    names = sorted(set(keys) & set(reference))
    concordant = discordant = 0
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            mine = (keys[a] > keys[b]) - (keys[a] < keys[b])
            ref = (reference[a] > reference[b]) - (reference[a] < reference[b])
            if mine == 0 or ref == 0:
                continue
            if mine == ref:
                concordant += 1
            else:
                discordant += 1
    if concordant + discordant == 0:
        return 1.0
    return (concordant - discordant) / (concordant + discordant)


@dataclass(frozen=True)
class OrderingCheck:
    """The ordering at one setting. ``kind`` is ``step_budget`` (setting = S; values = mean
    best-of-K reported metric) or ``target`` (setting = the target; values = median steps to
    it, ordered by (median, mean)). ``agreement`` is :func:`goodman_kruskal_gamma` with the
    reference setting (full budget; nominal target)."""

    kind: str
    setting: float
    ordering: tuple[str, ...]
    values: tuple[float, ...]
    agreement: float

    @property
    def matches_reference(self) -> bool:
        """No pair of optimizers is ordered strictly the other way round than at the reference."""
        return self.agreement == 1.0


@dataclass(frozen=True)
class Robustness:
    """Orderings of one (workload, protocol) across step budgets and targets (module doc)."""

    workload: str
    protocol: str
    budget: int
    by_step_budget: tuple[OrderingCheck, ...]
    by_target: tuple[OrderingCheck, ...]

    @property
    def robust(self) -> bool:
        """True when no ordering contradicts its reference."""
        return all(c.matches_reference for c in (*self.by_step_budget, *self.by_target))


def _check(kind: str, setting: float, keys: dict[str, tuple[float, ...]], reference: Mapping[str, Any]) -> OrderingCheck:
    order = sorted(keys, key=lambda o: (keys[o], o))
    return OrderingCheck(
        kind, setting, tuple(order), tuple(keys[o][0] for o in order), goodman_kruskal_gamma(keys, reference)
    )


def _default_step_budgets(meta: Mapping, workload: str, curves: Mapping[SearchKey, SearchCurves]) -> list[float]:
    total = None
    for w in meta.get("workloads", []) or []:
        if isinstance(w, Mapping) and w.get("name") == workload and isinstance(w.get("steps"), (int, float)):
            total = float(w["steps"])
    if total is None:
        steps = [c.step.max() for k, c in curves.items() if k[0] == workload and len(c.step)]
        total = float(max(steps)) if steps else None
    if not total:
        return []
    return [round(total * f) for f in (0.25, 0.5, 0.75, 1.0)]


def ordering_robustness(
    searches: Mapping[SearchKey, Search],
    curves: Mapping[SearchKey, SearchCurves],
    budget: int,
    *,
    meta: Mapping | None = None,
    step_budgets: Sequence[float] | None = None,
    targets: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
    target_factors: Sequence[float] = (0.8, 0.9, 1.0, 1.1, 1.2),
    select: str | Mapping[str, str] = "val_error",
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Robustness]:
    """Orderings per (workload, protocol) at several step budgets and targets (module doc).

    ``step_budgets`` default to 25/50/75/100% of the workload's ``steps`` in experiment.json
    (else its longest curve); the last (largest) one is the reference. ``targets`` (per
    workload, or one list for all) default to :func:`robustness_targets` (the target plus -2 .. 2
    of its recorded ``target_spread``, else ``target_factors`` times ``target_value``); the reference is the target closest to ``target_value`` (else the
    median target).
    """
    meta = meta or {}
    check_metric(report, "report", CURVE_METRICS)
    for name in [select] if isinstance(select, str) else select.values():
        check_metric(name, "select", CURVE_METRICS)
    worst = METRICS[report].worst
    groups: dict[tuple[str, str], list[SearchKey]] = {}
    for key in sorted(searches):
        groups.setdefault(key[:2], []).append(key)
    out = []
    for (w, p), keys in groups.items():
        budgets_s = sorted(step_budgets) if step_budgets is not None else _default_step_budgets(meta, w, curves)
        by_budget: list[tuple[float, dict[str, tuple[float, ...]]]] = []
        for s in budgets_s:
            chosen = select_for(select, p)
            keys_at: dict[str, tuple[float, ...]] = {}
            for key in keys:
                values, valid = metrics_at_step(searches[key], curves[key], s, (chosen, report))
                c = best_of_k(values[chosen], values[report], valid, [budget], n_resamples=n_resamples,
                              worst=worst, rng=search_rng(seed, key),
                              percentile_method=percentile_method_for(worst))
                keys_at[key[2]] = (float(c.mean[0]),)
            by_budget.append((float(s), keys_at))
        nominal = _target_of(meta, w)
        if isinstance(targets, Mapping):
            tlist = sorted(float(t) for t in targets.get(w, []))
        elif targets is not None:
            tlist = sorted(float(t) for t in targets)
        else:
            tlist = robustness_targets(meta, w, target_factors)
        by_target: list[tuple[float, dict[str, tuple[float, ...]]]] = []
        for t in tlist:
            steps_by_key = {
                key: completed_steps(
                    searches[key],
                    steps_to_target(curves[key], searches[key].n_trials, t, _target_metric_of(meta, w)),
                )
                for key in keys
            }
            scores = _speed_scores(steps_by_key, budget, n_resamples, seed)
            by_target.append((t, {sc.optimizer: (sc.median, sc.mean) for sc in scores}))
        ref_budget = by_budget[-1][1] if by_budget else {}
        ref_index = (
            min(range(len(tlist)), key=lambda i: abs(tlist[i] - nominal)) if (tlist and nominal is not None)
            else len(tlist) // 2
        )
        ref_target = by_target[ref_index][1] if by_target else {}
        out.append(
            Robustness(
                w, p, budget,
                tuple(_check("step_budget", s, k, ref_budget) for s, k in by_budget),
                tuple(_check("target", t, k, ref_target) for t, k in by_target),
            )
        )
    return out
