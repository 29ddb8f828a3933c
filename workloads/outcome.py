"""What a training run produces: evaluation rows and the trial's outcome.

The names come from :mod:`optcompare.schema`: an :class:`EvalRow` is a ``curves`` row less its
``trial_id`` and ``attempt`` (its metric fields are :data:`~optcompare.schema.CURVE_METRICS`),
and :meth:`TrialOutcome.summary` gives the ``trials`` columns a training run decides (the metric
columns are ``METRICS[name].column``). The outcome keeps its best-so-far and steps-to-target
bookkeeping in plain fields, updated as each row is recorded, so that the whole state of a trial's
progress is a plain object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from optcompare.errors import InputError
from optcompare.schema import COMPLETED, CURVE_METRICS, METRICS, TARGET_METRICS

if TYPE_CHECKING:
    from .base import Workload

__all__ = ["EvalRow", "Measurement", "Target", "TrialOutcome"]

Measurement = tuple[float, float]
"""``(error rate, mean loss)`` of a model over one split."""

_POSITION_OF_KIND = {"error": 0, "loss": 1}
"""Where a metric of each ``Metric.kind`` sits in a :data:`Measurement`."""


@dataclass(frozen=True)
class EvalRow:
    """One evaluation of the model: a row of the ``curves`` table less ``trial_id`` and
    ``attempt``. ``learning_rate`` is the rate of the last update before the evaluation."""

    step: int
    learning_rate: float
    train_loss: float
    val_error: float
    val_loss: float
    test_error: float
    test_loss: float
    wall_time_s: float

    @classmethod
    def of_measurements(
        cls, step: int, learning_rate: float, by_split: Mapping[str, Measurement], wall_time_s: float
    ) -> EvalRow:
        """The row of one evaluation: each curve metric ``name`` is the error or the loss
        (``METRICS[name].kind``) measured on its split (``METRICS[name].split``)."""
        values = {
            name: by_split[METRICS[name].split][_POSITION_OF_KIND[METRICS[name].kind]] for name in CURVE_METRICS
        }
        return cls(step=step, learning_rate=learning_rate, wall_time_s=wall_time_s, **values)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """The level a trial's ``metric`` (one of :data:`~optcompare.schema.TARGET_METRICS`) has to
    reach: an evaluation with ``row.metric <= value`` has reached it."""

    metric: str
    value: float

    @classmethod
    def of(cls, workload: Workload, value: float | None = None) -> Target:
        """The target ``workload`` declares (``value`` in place of its ``target_value`` when
        given); InputError when its ``target_metric`` is not one of
        :data:`~optcompare.schema.TARGET_METRICS`."""
        if workload.target_metric not in TARGET_METRICS:
            raise InputError(
                f"workload {workload.name!r}: target_metric {workload.target_metric!r} is not one of "
                f"{TARGET_METRICS}; set target_metric to one of them"
            )
        return cls(workload.target_metric, float(workload.target_value if value is None else value))

    def reached(self, row: EvalRow) -> bool:
        return getattr(row, self.metric) <= self.value


@dataclass
class TrialOutcome:
    """What one training run produced: its status, evaluations, bookkeeping and timing."""

    status: str = COMPLETED
    """``completed``, ``diverged``, or ``failed`` when stopped by a time limit
    (:data:`~optcompare.schema.STATUSES`)."""
    rows: list[EvalRow] = field(default_factory=list)
    total_steps: int = 0
    steps_to_target: int | None = None
    """The step of the first evaluation that reached the target; None if none did."""
    best_val_error: float = math.nan
    """The lowest validation error of the evaluations so far (NaN before the first)."""
    best_val_step: int = -1
    """The step of the first evaluation with :attr:`best_val_error` (-1 before the first)."""
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    """Seconds spent inside training steps (forward, backward, update, batch fetch)."""
    error: str | None = None
    """Why a ``failed`` run stopped (e.g. its time limit); None otherwise."""
    resumed_from_step: int | None = None
    """The step of the checkpoint this run continued from (None: it trained from step 0)."""

    def record(self, row: EvalRow, target: Target) -> None:
        """Append ``row`` (evaluations come in step order) and update the bookkeeping: the first
        step that reaches ``target``, and the lowest validation error (ties keep the earlier
        step; a NaN first row stays best, as ``min`` over ``(val_error, step)`` would have it)."""
        self.rows.append(row)
        if self.steps_to_target is None and target.reached(row):
            self.steps_to_target = row.step
        if self.best_val_step < 0 or row.val_error < self.best_val_error:
            self.best_val_error, self.best_val_step = row.val_error, row.step

    def summary(self) -> dict[str, float | int | str | None]:
        """The columns of a ``trials`` row that the training run decides: status, the metrics
        at the last evaluation (NaN without one), bookkeeping and timing."""
        last = self.rows[-1] if self.rows else None
        return {
            "status": self.status,
            **{METRICS[name].column: getattr(last, name) if last else math.nan for name in CURVE_METRICS},
            "best_val_error": self.best_val_error,
            "best_val_step": self.best_val_step,
            "steps_to_target": self.steps_to_target,
            "total_steps": self.total_steps,
            "resumed_from_step": self.resumed_from_step,
            "wall_time_s": self.wall_time_s,
            "train_time_s": self.train_time_s,
            "error": self.error,
        }
