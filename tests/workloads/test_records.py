"""What a run records, without training: rows and summaries in the schema's names, the
best-so-far and steps-to-target bookkeeping, the divergence-check cadence, time shares."""

from __future__ import annotations

import contextlib
import dataclasses
import math

import pytest
import torch

from optcompare.schema import CURVE_SCHEMA, TARGET_METRICS, TRIAL_BASE_SCHEMA
from workloads import EvalRow, TrialOutcome
from workloads.outcome import Target
from workloads.run import DivergenceWatch, RunSettings, Stopwatch, TrialGroup

DRIVER_COLUMNS = ("trial_id", "trial_index", "seed", "attempt", "phase", "stage", "study")
"""``trials`` columns the driver fills in (who, which attempt, stage and study); the training
run decides every other one (``error`` too: a time limit; the driver overrides it for failures)."""


def row(step: int, val_error: float, val_loss: float = 1.0) -> EvalRow:
    return EvalRow(step, 0.1, 2.0, val_error, val_loss, 0.5, 1.5, float(step))


def test_eval_row_fields_are_the_curve_columns_less_the_ids():
    fields = [f.name for f in dataclasses.fields(EvalRow)]
    assert fields == [c for c in CURVE_SCHEMA.names if c not in ("trial_id", "attempt")]
    assert list(row(1, 0.3).as_dict()) == fields


def test_summary_keys_are_the_trials_columns_a_run_decides_in_schema_order():
    for outcome in (TrialOutcome(), TrialOutcome(rows=[row(5, 0.3)])):
        assert list(outcome.summary()) == [c for c in TRIAL_BASE_SCHEMA.names if c not in DRIVER_COLUMNS]


def test_a_row_is_built_from_each_metrics_split_and_kind():
    measured = {"train": (0.9, 2.0), "val": (0.3, 1.1), "test": (0.4, 1.2)}
    got = EvalRow.of_measurements(10, 0.05, measured, 3.5)
    assert got == EvalRow(10, 0.05, train_loss=2.0, val_error=0.3, val_loss=1.1, test_error=0.4, test_loss=1.2,
                          wall_time_s=3.5)


@pytest.mark.parametrize(
    ("errors", "best", "best_step"),
    [
        ([0.5, 0.3, 0.4], 0.3, 20),
        ([0.5, 0.3, 0.3], 0.3, 20),  # a tie keeps the earlier step
        ([0.2, 0.3, 0.4], 0.2, 10),
        ([math.nan, 0.3], math.nan, 10),  # as min() over (val_error, step): a NaN first row stays
    ],
)
def test_best_so_far_is_the_first_lowest_validation_error(errors, best, best_step):
    outcome = TrialOutcome()
    for k, error in enumerate(errors):
        outcome.record(row(10 * (k + 1), error), Target("val_error", 0.0))
    summary = outcome.summary()
    assert summary["best_val_step"] == best_step
    assert summary["best_val_error"] == best or (math.isnan(best) and math.isnan(summary["best_val_error"]))


def test_no_evaluation_leaves_the_metric_columns_nan():
    summary = TrialOutcome().summary()
    assert summary["status"] == "completed" and summary["best_val_step"] == -1
    assert all(math.isnan(summary[c]) for c in summary if c.startswith(("final_", "best_val_error")))


@pytest.mark.parametrize(
    ("metric", "values", "reached_at"),
    [
        ("val_error", [(0.6, 9.0), (0.5, 9.0), (0.4, 9.0)], 20),  # at or below the target counts
        ("val_loss", [(0.1, 2.0), (0.1, 1.4), (0.1, 1.6)], 20),  # only the named metric counts
        ("val_loss", [(0.1, 2.0), (0.1, 1.9)], None),
    ],
)
def test_steps_to_target_is_the_first_evaluation_at_or_below_the_target(metric, values, reached_at):
    target = Target(metric, 0.5 if metric == "val_error" else 1.5)
    outcome = TrialOutcome()
    for k, (error, loss) in enumerate(values):
        outcome.record(row(10 * (k + 1), error, loss), target)
    assert outcome.steps_to_target == reached_at == outcome.summary()["steps_to_target"]


def test_target_metrics_are_the_schemas():
    class Fake:
        name = "fake"
        target_value = 0.5

    for metric in TARGET_METRICS:
        Fake.target_metric = metric
        assert Target.of(Fake) == Target(metric, 0.5)
    Fake.target_metric = "accuracy"
    with pytest.raises(ValueError, match=r"workload 'fake': target_metric 'accuracy' is not one of"):
        Target.of(Fake)


def settings(check_every: int, eval_every: int = 10, steps: int = 25, limit: float = 1e3) -> RunSettings:
    return RunSettings(steps, eval_every, torch.device("cpu"), check_every, contextlib.nullcontext,
                       Target("val_error", 0.5), limit)


@pytest.mark.parametrize(
    ("check_every", "read_after"),
    [
        (1, list(range(25))),
        (7, [6, 9, 13, 19, 20, 24]),  # multiples of 7, evaluation steps (10, 20) and the last (25)
        (50, [9, 19, 24]),
    ],
)
def test_divergence_is_read_at_its_cadence_and_at_every_evaluation(check_every, read_after):
    watch = DivergenceWatch(settings(check_every))
    bad_at = [s for s in range(25) if watch.bad_rows(s, torch.tensor([math.nan, 1.0]))]
    assert bad_at == read_after


def test_the_running_maximum_keeps_a_bad_loss_until_it_is_read_and_names_its_row():
    watch = DivergenceWatch(settings(7, limit=10.0))
    assert watch.bad_rows(0, torch.tensor([1.0, 50.0, 2.0])) == []  # not read yet
    assert watch.bad_rows(1, torch.tensor([1.0, 1.0, math.inf])) == []
    assert watch.bad_rows(6, torch.tensor([1.0, 1.0, 1.0])) == [1, 2]
    assert watch.bad_rows(13, torch.tensor([1.0, 1.0, 1.0])) == []  # reset after each read
    every_step = DivergenceWatch(settings(1, limit=10.0))
    assert every_step.bad_rows(0, torch.tensor(11.0)) == [0] and every_step.bad_rows(1, torch.tensor(9.0)) == []


def test_training_time_is_shared_evenly_among_the_active_members():
    group = TrialGroup.start(3, Target("val_error", 0.5), Stopwatch())
    group.clock.segment_started -= 3.0  # a segment of (at least) 3 s, three members
    group.charge_segment()
    group.active = [0, 2]
    group.clock.restart_segment()
    group.clock.segment_started -= 2.0  # then 2 s, two members
    group.charge_segment()
    times = [o.train_time_s for o in group.outcomes]
    assert times[0] == times[2] and times[0] - times[1] >= 1.0 - 1e-9 and times[1] >= 1.0
