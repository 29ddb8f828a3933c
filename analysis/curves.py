"""Evaluation curves aligned with searches: metrics at a shorter step budget, steps to a target,
and the curves of the best trials.

Only curve rows of a trial's latest attempt (the attempt of its ``trials`` row) count. For a
trial that diverged, its last row is the evaluation taken after divergence; that row is never
used as a regular evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optcompare.schema import CURVE_METRICS, DIVERGED, METRICS, PARTITION_KEYS, TARGET_METRICS
from optcompare.searches import Search, SearchKey

__all__ = [
    "CURVE_METRICS",
    "BestTrialCurve",
    "SearchCurves",
    "align_curves",
    "best_trial_curve",
    "metrics_at_step",
    "steps_to_target",
]

_SEP = "\x1f"


@dataclass(frozen=True, eq=False)
class SearchCurves:
    """Curve rows of one search's trials in CSR form: the rows of trial ``i`` (in the order of
    :class:`~optcompare.searches.Search`) are ``offsets[i]:offsets[i + 1]``, sorted by step.

    ``regular`` is False on a diverged trial's post-divergence row; ``last_step[i]`` is the
    step of trial i's last row (-1 without rows). ``columns`` holds each metric of
    :data:`optcompare.schema.CURVE_METRICS` (the curves column of that name) per row.
    """

    offsets: np.ndarray
    step: np.ndarray
    regular: np.ndarray
    last_step: np.ndarray
    columns: dict[str, np.ndarray]

    def trial_of_row(self) -> np.ndarray:
        """Trial position of each row."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


@dataclass(frozen=True, eq=False)
class BestTrialCurve:
    """The curve of one search's best trial (by the selection metric over final values)."""

    workload: str
    protocol: str
    optimizer: str
    trial_id: str
    step: np.ndarray
    val_error: np.ndarray
    train_loss: np.ndarray


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)


def align_curves(curves: pa.Table, searches: Mapping[SearchKey, Search]) -> dict[SearchKey, SearchCurves]:
    """Curve rows of each search's latest attempts, grouped per trial and sorted by step."""
    keys = list(searches)
    bases = np.cumsum([0] + [searches[k].n_trials for k in keys])
    lookup: dict[str, int] = {}
    latest_attempt = np.empty(bases[-1])
    diverged = np.zeros(bases[-1], dtype=bool)
    for key, base in zip(keys, bases[:-1], strict=True):
        s = searches[key]
        prefix = _SEP.join(key) + _SEP
        for i, tid in enumerate(s.trial_id):
            lookup[prefix + str(tid)] = int(base) + i
        latest_attempt[base : base + s.n_trials] = np.nan_to_num(s.column("attempt"), nan=0.0)
        diverged[base : base + s.n_trials] = s.status == DIVERGED
    n_rows = curves.num_rows
    if n_rows and all(c in curves.column_names for c in (*PARTITION_KEYS, "trial_id", "step")):
        parts = [pc.cast(pc.fill_null(curves.column(c), ""), pa.string()) for c in (*PARTITION_KEYS, "trial_id")]
        enc = pc.binary_join_element_wise(*parts, _SEP).combine_chunks().dictionary_encode()
        code_trial = np.asarray([lookup.get(v, -1) for v in enc.dictionary.to_pylist()], dtype=np.int64)
        trial = code_trial[np.asarray(enc.indices)] if len(code_trial) else np.full(n_rows, -1)
        attempt = np.nan_to_num(_floats(curves, "attempt"), nan=0.0)
        step = _floats(curves, "step")
        keep = (trial >= 0) & np.isfinite(step)
        keep[keep] &= attempt[keep] == latest_attempt[trial[keep]]
        rows = np.flatnonzero(keep)
        rows = rows[np.lexsort((step[rows], trial[rows]))]
        trial, step = trial[rows], step[rows]
        columns = {m: _floats(curves, m)[rows] for m in CURVE_METRICS}
    else:
        trial, step = np.zeros(0, dtype=np.int64), np.zeros(0)
        columns = {m: np.zeros(0) for m in CURVE_METRICS}
    offsets_all = np.searchsorted(trial, np.arange(bases[-1] + 1))
    last_row = offsets_all[1:] - 1
    has_rows = np.diff(offsets_all) > 0
    last_step_all = np.where(has_rows, step[np.maximum(last_row, 0)] if len(step) else -1, -1.0)
    regular = np.ones(len(step), dtype=bool)
    divergence_rows = last_row[has_rows & diverged]
    regular[divergence_rows] = False
    out = {}
    for key, base, stop in zip(keys, bases[:-1], bases[1:], strict=True):
        lo, hi = offsets_all[base], offsets_all[stop]
        out[key] = SearchCurves(
            offsets=offsets_all[base : stop + 1] - lo,
            step=step[lo:hi],
            regular=regular[lo:hi],
            last_step=last_step_all[base:stop],
            columns={m: v[lo:hi] for m, v in columns.items()},
        )
    return out


def _last_before(sc: SearchCurves, mask: np.ndarray, n_trials: int) -> tuple[np.ndarray, np.ndarray]:
    """(row index of each trial's last row where ``mask`` holds, whether it has one)."""
    rows = np.flatnonzero(mask)
    owner = sc.trial_of_row()[rows]  # non-decreasing: rows are sorted by trial, then step
    ends = np.r_[owner[1:] != owner[:-1], True] if len(rows) else np.zeros(0, dtype=bool)
    last = np.full(n_trials, -1, dtype=np.int64)
    last[owner[ends]] = rows[ends]
    return last, last >= 0


def metrics_at_step(
    search: Search, sc: SearchCurves, step_budget: float, metrics: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(metric values, valid) of every trial as if training had stopped at ``step_budget``.

    A trial's value is that of its last regular evaluation at a step <= ``step_budget``. It is
    valid when it has such an evaluation and was still running at ``step_budget``: completed
    trials always; diverged or failed trials only when their last row's step is beyond
    ``step_budget``. The learning-rate schedule was laid out for the full budget, so this is
    the state of the full-budget run at step S, not a run tuned for S steps.
    """
    mask = sc.regular & (sc.step <= step_budget)
    last, has = _last_before(sc, mask, search.n_trials)
    running = search.completed | (sc.last_step > step_budget)
    valid = has & running
    safe = np.maximum(last, 0)
    values = {}
    for m in metrics:
        column = sc.columns[m]
        values[m] = np.where(has, column[safe] if len(column) else np.nan, np.nan)
    return values, valid


def steps_to_target(
    sc: SearchCurves, n_trials: int, target: float, metric: str = TARGET_METRICS[0]
) -> np.ndarray:
    """First step whose regular evaluation has ``metric <= target`` (the workload's
    ``target_metric``: ``val_error``, or ``val_loss`` for language models); +inf when never."""
    mask = sc.regular & (sc.columns[metric] <= target)
    rows = np.flatnonzero(mask)
    owner = sc.trial_of_row()[rows]  # non-decreasing: rows are sorted by trial, then step
    starts = np.r_[True, owner[1:] != owner[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    out = np.full(n_trials, np.inf)
    out[owner[starts]] = sc.step[rows[starts]]
    return out


def best_trial_curve(search: Search, sc: SearchCurves, select_column: str = METRICS["val_error"].column) -> BestTrialCurve | None:
    """The curve of the completed trial with the lowest ``select_column``; None when no
    completed trial has a finite value."""
    values = np.where(search.completed, search.column(select_column), np.nan)
    if not np.isfinite(values).any():
        return None
    best = int(np.nanargmin(values))
    rows = slice(int(sc.offsets[best]), int(sc.offsets[best + 1]))
    keep = sc.regular[rows]
    return BestTrialCurve(
        search.workload,
        search.protocol,
        search.optimizer,
        str(search.trial_id[best]),
        sc.step[rows][keep],
        sc.columns["val_error"][rows][keep],
        sc.columns["train_loss"][rows][keep],
    )
