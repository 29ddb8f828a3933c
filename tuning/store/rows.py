"""Rows of the ``trials`` table built from planned trials and worker summaries, in the columns of
:mod:`optcompare.schema`.

A worker's summary of a finished trial (``workloads.TrialOutcome.summary()``) holds the result
columns (``status``, the ``final_*`` metrics, ``best_val_*``, steps and times); the driver adds
the planned trial's identity (:func:`trial_row`) and its hyperparameters as ``hp_<name>`` and
search point as ``tuned_<name>`` columns (:func:`hp_columns`, written by
:func:`tuning.store.sink.parameter_columns`).
"""

from __future__ import annotations

import math
from typing import Any

from optcompare.schema import FAILED, METRICS, SearchKey
from tuning.plan.trial import PlannedTrial

__all__ = ["failed_summary", "hp_columns", "search_key", "trial_row"]


def search_key(trial: PlannedTrial) -> SearchKey:
    """The search of ``trial``, which is also the partition of its rows."""
    return SearchKey(trial.workload, trial.protocol, trial.optimizer)


def trial_row(trial: PlannedTrial, attempt: int, summary: dict[str, Any]) -> dict[str, Any]:
    """The trials row of ``trial``'s attempt ``attempt``: its identity, then ``summary``'s
    result columns (which may override ``error``)."""
    return {
        "trial_id": trial.trial_id,
        "trial_index": trial.trial_index,
        "seed": trial.seed,
        "attempt": attempt,
        "phase": trial.phase,
        "stage": trial.stage,
        "study": trial.study,
        "error": None,
        **summary,
    }


def hp_columns(trial: PlannedTrial) -> tuple[dict[str, float], dict[str, float]]:
    """(hp values: optimizer and schedule hyperparameters, tuned values: the search point)."""
    return {**trial.hparams, **trial.schedule_params}, dict(trial.tuned)


def failed_summary(error: str) -> dict[str, Any]:
    """The result columns of a trial that raised or whose worker died: no metric (NaN), no
    step, the ``error`` message."""
    return {
        "status": FAILED,
        **{m.column: math.nan for m in METRICS.values()},
        "best_val_error": math.nan,
        "best_val_step": -1,
        "steps_to_target": None,
        "total_steps": 0,
        "resumed_from_step": None,
        "wall_time_s": math.nan,
        "train_time_s": 0.0,
        "error": error,
    }
