"""Trials rows written by hand through the production sink, shared by the tests of what resume
and the planners decide from finished rows (no Ray)."""

from __future__ import annotations

from collections.abc import Sequence

from tuning.plan.trial import PlannedTrial
from tuning.store.rows import hp_columns, search_key, trial_row
from tuning.store.sink import ResultSink

SUMMARY = {
    "final_train_loss": 0.1, "final_val_loss": 0.1, "final_test_error": 0.2, "final_test_loss": 0.1,
    "best_val_step": 10, "steps_to_target": None, "total_steps": 10, "wall_time_s": 1.0,
    "train_time_s": 0.5, "error": None,
}
"""The result columns every hand-written row shares; status and validation error vary."""


def write_rows(
    experiment: str, trials: Sequence[PlannedTrial], statuses: Sequence[str], errors: Sequence[float], attempt: int = 0
) -> None:
    """One trials row per trial at ``attempt``, with its status and final (= best) validation
    error, as the driver writes them."""
    sink = ResultSink(experiment)
    for trial, status, err in zip(trials, statuses, errors, strict=True):
        row = trial_row(trial, attempt, {**SUMMARY, "status": status, "final_val_error": err, "best_val_error": err})
        sink.add_trial_row(search_key(trial), row, *hp_columns(trial))
    sink.close()
