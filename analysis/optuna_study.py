"""An Optuna study rebuilt from a search's trials rows: the one place where rows become
``optuna.trial.FrozenTrial`` objects, for the importance (:mod:`analysis.importance`) and the
export to optuna-dashboard (:mod:`analysis.export`).

Distributions. One per tuned coordinate (the ``tuned_<name>`` columns, in the space's own
units, e.g. ``one_minus_beta1`` or ``learning_rate_over_epsilon``), from the range
experiment.json ``searches[].space`` records for the (protocol, optimizer)
(:func:`analysis.diagnostics.space_ranges`):

    log range [lo, hi]       FloatDistribution(lo', hi', log=True)
    linear range [lo, hi]    FloatDistribution(lo', hi')
    feasible points p_1..p_m CategoricalDistribution((p_1, ..., p_m)); a value is its nearest point

where [lo', hi'] = [min(lo, v_min), max(hi, v_max)] also holds every observed value v (a value a
rounding error outside its range, or a staged protocol's refined space, which may extend its
first stage's recorded range). A coordinate experiment.json does not describe gets the observed
extent of its values, log when it spans a factor of 100 or more of positive values.

Values. A trial's value is its selection metric (the protocol's ``select``, ``val_error`` by
default), lower is better (``direction="minimize"``). Optuna keeps only finite values of
complete trials, and importance evaluators skip the rest, which would hide where a search
diverged. So:

- ``completed`` with a finite value: COMPLETE, that value;
- ``diverged`` (or completed with a non-finite value): COMPLETE at the worst (largest) finite
  selection value of the same rows, so the region where training blew up counts as the worst
  seen; when no row has a finite value, FAIL;
- ``failed`` (the trial raised; its metrics mean nothing): FAIL, skipped by the importance.

Each trial carries user attributes ``trial_id``, ``status``, ``study``, ``trial_index`` (and
``stage`` when asked); the export adds intermediate values from the curves. For the importance,
a log coordinate is given as its natural logarithm on a linear distribution
(``log_as_linear``), so that every evaluator measures it on the log width the search sampled.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optcompare.schema import COMPLETED, DIVERGED, FIRST_STUDY, METRICS, TUNED_PREFIX
from optcompare.searches import Search
from optcompare.space_range import SpaceRange

from .diagnostics import _observed

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

__all__ = [
    "RebuiltTrials",
    "as_log_linear",
    "create_study",
    "distribution_for",
    "rebuilt_trials",
    "quiet_optuna",
]


@dataclass(frozen=True, eq=False)
class RebuiltTrials:
    """The frozen trials of some rows of one search, with what the rebuild did to them."""

    trials: tuple[FrozenTrial, ...]
    distributions: Mapping[str, BaseDistribution]
    select: str
    n_completed: int
    """Completed trials with a finite selection value (their own value)."""
    n_imputed: int
    """Diverged trials (and completed ones with a non-finite value) given the worst finite value."""
    n_failed: int
    """Trials stored as FAIL (failed ones; diverged ones when no row had a finite value)."""
    worst: float
    """The worst finite selection value of the rows (NaN when there is none)."""
    logged: frozenset[str] = frozenset()
    """Log coordinates given as their logarithm (``log_as_linear``)."""


def distribution_for(values: np.ndarray, recorded: SpaceRange | None) -> BaseDistribution:
    """The distribution of one tuned coordinate (module doc): the recorded range widened to the
    observed ``values``, or their observed extent."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    finite = values[np.isfinite(values)]
    rng = recorded or _observed(values)
    if rng is not None and rng.scaling == "points":
        return CategoricalDistribution(rng.points)
    if rng is None:  # one distinct value (or none): a single-point range, which evaluators skip
        point = float(finite[0]) if len(finite) else 0.0
        return FloatDistribution(point, point)
    low = min(rng.low, float(finite.min())) if len(finite) else rng.low
    high = max(rng.high, float(finite.max())) if len(finite) else rng.high
    return FloatDistribution(low, high, log=rng.scaling == "log" and low > 0)


def as_log_linear(distribution: BaseDistribution) -> BaseDistribution:
    """A log FloatDistribution(lo, hi) as the linear FloatDistribution(ln lo, ln hi) of the
    coordinate's logarithm; any other distribution unchanged."""
    from optuna.distributions import FloatDistribution

    if isinstance(distribution, FloatDistribution) and distribution.log:
        return FloatDistribution(math.log(distribution.low), math.log(distribution.high))
    return distribution


def _param(value: float, distribution: BaseDistribution, log: bool) -> float:
    """``value`` as the distribution takes it: the nearest feasible point for a categorical,
    ln value when ``log`` (the coordinate is taken on its logarithm)."""
    choices = getattr(distribution, "choices", None)
    if choices is None:
        return math.log(value) if log else value
    return choices[int(np.abs(np.asarray(choices, dtype=float) - value).argmin())]


def rebuilt_trials(
    search: Search,
    ranges: Mapping[str, SpaceRange],
    select: str,
    *,
    rows: np.ndarray | None = None,
    intermediate: Mapping[str, Mapping[int, float]] | None = None,
    stage: str = "",
    log_as_linear: bool = False,
) -> RebuiltTrials:
    """The frozen trials of ``search``'s ``rows`` (default: all, in ``trial_index`` order) by
    the module doc's rules, selection metric ``select``; ``intermediate`` maps a trial id to its
    intermediate values (step -> value); ``stage`` is recorded as a user attribute. With
    ``log_as_linear`` a log coordinate is given as its natural logarithm on a linear
    distribution (:func:`as_log_linear`), so that an evaluator that works on raw values
    (fANOVA) measures it on its log width as the search sampled it."""
    from optuna.trial import TrialState, create_trial

    rows = np.arange(search.n_trials) if rows is None else rows
    value = search.column(METRICS[select].column)[rows]
    status = search.status[rows]
    own = (status == COMPLETED) & np.isfinite(value)
    imputed = ~own & ((status == COMPLETED) | (status == DIVERGED))
    worst = float(value[own].max()) if own.any() else math.nan
    if not own.any():
        imputed[:] = False
    distributions = {
        name: distribution_for(search.column(f"{TUNED_PREFIX}{name}")[rows], ranges.get(name))
        for name in search.tuned_names()
    }
    logged = {n for n, d in distributions.items() if log_as_linear and getattr(d, "log", False)}
    distributions = {n: as_log_linear(d) if n in logged else d for n, d in distributions.items()}
    columns = {n: search.column(f"{TUNED_PREFIX}{n}")[rows] for n in distributions}
    study = np.nan_to_num(search.column("study")[rows], nan=FIRST_STUDY)
    index = search.column("trial_index")[rows]
    intermediate = intermediate or {}
    trials = []
    for i, row in enumerate(rows):
        tid = str(search.trial_id[row])
        params = {n: _param(float(v[i]), distributions[n], n in logged)
                  for n, v in columns.items() if np.isfinite(v[i])}
        attrs: dict[str, Any] = {"trial_id": tid, "status": str(status[i]), "study": int(study[i]),
                                 "trial_index": int(index[i]) if np.isfinite(index[i]) else -1}
        if stage:
            attrs["stage"] = stage
        complete = bool(own[i] or imputed[i])
        trials.append(create_trial(
            state=TrialState.COMPLETE if complete else TrialState.FAIL,
            value=(float(value[i]) if own[i] else worst) if complete else None,
            params=params,
            distributions={n: distributions[n] for n in params},
            user_attrs=attrs,
            intermediate_values=dict(intermediate.get(tid, {})),
        ))
    n_own, n_imputed = int(own.sum()), int(imputed.sum())
    return RebuiltTrials(tuple(trials), distributions, select, n_own, n_imputed,
                         len(rows) - n_own - n_imputed, worst, frozenset(logged))


def quiet_optuna() -> None:
    """Optuna logs each study it creates at INFO; the analysis says what it did itself."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def create_study(
    rebuilt: RebuiltTrials,
    *,
    storage: optuna.storages.BaseStorage | None = None,
    name: str | None = None,
    user_attrs: Mapping[str, Any] | None = None,
) -> optuna.Study:
    """A minimizing study (in memory, or ``name`` in ``storage``) holding ``rebuilt``'s trials
    (``add_trials``), with study user attributes ``user_attrs`` and the selection metric as the
    objective's name."""
    import optuna

    quiet_optuna()
    study = optuna.create_study(storage=storage, study_name=name, direction="minimize")
    for key, value in (user_attrs or {}).items():
        study.set_user_attr(key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([rebuilt.select])
    study.add_trials(rebuilt.trials)
    return study

