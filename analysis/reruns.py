"""Reruns of the best search point with new seeds (protocols with ``rerun_best``, e.g. DeepOBS).

Their ``trials`` rows have ``phase = rerun``; they are not search points and never enter the
budget bootstrap. This module summarises them: for each search with reruns, the reported
metric's mean, standard deviation (ddof = 1; NaN for one rerun), minimum and maximum over the
completed reruns (latest attempts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from optcompare.schema import METRICS
from optcompare.searches import RERUN_PHASE, group_searches

from .checks import check_metric

__all__ = ["RerunSummary", "rerun_summaries"]


@dataclass(frozen=True)
class RerunSummary:
    """The reruns of one search's best point."""

    workload: str
    protocol: str
    optimizer: str
    n_reruns: int
    n_completed: int
    mean: float
    std: float
    min: float
    max: float


def rerun_summaries(trials: pa.Table, report: str = "test_error") -> list[RerunSummary]:
    """One summary per search that has ``rerun`` trials, sorted by search."""
    column = METRICS[check_metric(report, "report")].column
    if "phase" not in trials.column_names or trials.num_rows == 0:
        return []
    out = []
    for key, search in group_searches(trials, phases=(RERUN_PHASE,)).items():
        values = search.column(column)[search.completed]
        values = values[np.isfinite(values)]
        n = len(values)
        out.append(
            RerunSummary(
                *key, search.n_trials, n,
                float(values.mean()) if n else math.nan,
                float(values.std(ddof=1)) if n > 1 else math.nan,
                float(values.min()) if n else math.nan,
                float(values.max()) if n else math.nan,
            )
        )
    return out
